"""Building the fused CPU kernels, once per machine, and loading the build.

The C++ source (``csrc/fused_rnn.cpp`` and its headers) is compiled with
:func:`torch.utils.cpp_extension.load` into a folder of torch's extension cache
(``$TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions/py311_cpu``). The build is
specialised to the instruction set PyTorch detects on this CPU (AVX512, AVX2 or the SSE
``DEFAULT``), and that, a hash of the sources and flags, and torch's version go into its name,
so a cache shared between machines or torch versions never loads the wrong build.

- The first process that needs the kernels compiles them (about 30 s on two cores) and says so
  on the ``rnnx`` logger, when it starts and when it ends. ``rnnx build`` (or
  ``python -m rnnx.cli build``) compiles them ahead of time, for a Docker image for example.
- Later processes load the cached build directly, without a compiler.
- Where the build cannot be made (no C++ compiler, no Python headers, no ninja, a compiler
  error) :func:`unavailable_reason` says what is missing and how to get it; ``backend="auto"``
  then runs torch's kernels or the reference path, and an explicit ``backend="fused"`` raises
  with that reason.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path
from types import ModuleType

import torch

CSRC = Path(__file__).with_name("csrc")
SOURCE = CSRC / "fused_rnn.cpp"
STREAM_SOURCE = CSRC / "stream.cpp"
HEADERS = sorted(CSRC.glob("*.h"))
DISABLE_ENV = "RNNX_DISABLE_FUSED"
CAPABILITIES = ("DEFAULT", "AVX2", "AVX512")
"""The instruction sets a build can target, as :func:`torch.backends.cpu.get_cpu_capability` names them."""

logger = logging.getLogger("rnnx")

_ISA_FLAGS = {
    "AVX512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl"],
    "AVX2": ["-mavx2", "-mfma"],
}


def compile_flags(capability: str | None = None) -> tuple[str, list[str]]:
    """The CPU capability (PyTorch's detection here unless given, e.g. ``AVX512``) and the
    compiler flags for it."""
    capability = capability or torch.backends.cpu.get_cpu_capability()
    # -fno-math-errno and -fno-trapping-math let GCC vectorise the elementwise loops; unlike
    # -ffast-math they change no IEEE result for finite inputs. -ffp-contract=fast lets it fuse
    # a * b + c into one FMA (one rounding instead of two), which the small GEMM relies on.
    flags = [
        "-O3",
        "-std=c++17",
        "-fno-math-errno",
        "-fno-trapping-math",
        "-ffp-contract=fast",
        "-fopenmp",
        *_ISA_FLAGS.get(capability, []),
    ]
    return capability, flags


def cache_root() -> Path:
    """The folder that holds the builds: torch's extension cache for this Python."""
    configured = os.environ.get("TORCH_EXTENSIONS_DIR")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "torch_extensions" / f"py{sys.version_info.major}{sys.version_info.minor}_cpu"


def missing_requirement() -> str | None:
    """What a build needs and this machine lacks, as advice, or ``None``."""
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return (
            f"no C++ compiler (looked for {compiler!r} on PATH; install one, e.g. 'apt-get install g++', "
            "or set CXX to its path)"
        )
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        return f"Python's C headers are missing (no Python.h in {include}; install e.g. python3-dev)"
    if shutil.which("ninja", path=_search_path()) is None:
        return "ninja is missing (pip install ninja)"
    return None


def _search_path() -> str:
    # The ninja that rnnx depends on lives beside this interpreter, on PATH or not.
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _failure(exc: BaseException, folder: Path) -> str:
    """One line saying why a build failed: the compiler's first error, or the exception's last line."""
    text = str(exc)
    for line in text.splitlines():
        if re.search(r"\berror\b", line) and "Error building extension" not in line:
            detail = line.strip()
            if "omp.h" in detail:
                detail += " (OpenMP headers missing: install the compiler's OpenMP support, e.g. libgomp)"
            return f"the C++ build failed: {detail} (build folder {folder})"
    last = text.strip().splitlines()[-1] if text.strip() else repr(exc)
    return f"the C++ build failed: {type(exc).__name__}: {last} (build folder {folder})"


def _import_build(name: str, folder: Path) -> ModuleType | None:
    """The cached build ``folder/name.so`` imported, or ``None`` when there is none."""
    library = folder / f"{name}{'.pyd' if sys.platform == 'win32' else '.so'}"
    if not library.is_file():
        return None
    spec = importlib.util.spec_from_file_location(name, library)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Extension:
    """One C++ extension of rnnx: built on first use or ahead of time, cached, loaded once.

    Args:
        prefix: the start of the build's name (``rnnx_fused``).
        source: its one C++ source file; every header in ``csrc`` goes into its hash too.
        what: what it is, for messages ("the fused CPU kernels").
    """

    def __init__(self, prefix: str, source: Path, what: str) -> None:
        self.prefix = prefix
        self.source = source
        self.what = what
        self._lock = threading.Lock()
        self.module: ModuleType | None = None
        self.error: str | None = None
        self.noted = False

    def name(self, capability: str | None = None) -> str:
        """``{prefix}_{isa}_{hash}``, the hash over the sources, the flags and torch's version."""
        capability, flags = compile_flags(capability)
        source = b"".join(path.read_bytes() for path in (self.source, *HEADERS))
        key = source + " ".join([*flags, torch.__version__]).encode()
        return f"{self.prefix}_{capability.lower()}_{hashlib.sha256(key).hexdigest()[:12]}"

    def folder(self, capability: str | None = None) -> Path:
        """Where the build for ``capability`` (this CPU's by default) lives."""
        return cache_root() / self.name(capability)

    def decided(self) -> bool:
        """Whether the build was tried already (it succeeded or failed)."""
        return self.module is not None or self.error is not None

    def load(self) -> ModuleType | None:
        """The compiled extension, building it on the first call; ``None`` if it cannot be built."""
        if self.decided():  # no lock on this path: torch.compile traces it, and cannot trace a lock
            return self.module
        with self._lock:
            if self.decided():
                return self.module
            if os.environ.get(DISABLE_ENV):
                self.error = f"disabled by the environment variable {DISABLE_ENV}"
                return None
            capability, flags = compile_flags()
            name = self.name(capability)
            folder = cache_root() / name
            try:
                self.module = _import_build(name, folder)
            except ImportError:  # a damaged or foreign file: build it again
                self.module = None
            if self.module is None:
                self.error = missing_requirement()
                if self.error is None:
                    try:
                        self.module = self._compile(name, folder, flags, capability)
                    except Exception as exc:  # a compiler error: report it, never crash the caller
                        self.error = _failure(exc, folder)
            return self.module

    def _compile(self, name: str, folder: Path, flags: list[str], capability: str) -> ModuleType:
        from torch.utils.cpp_extension import load

        folder.mkdir(parents=True, exist_ok=True)
        logger.warning(
            "rnnx: compiling %s for %s, once per machine (about 30 s); 'rnnx build' does this ahead of time",
            self.what,
            capability,
        )
        start = time.perf_counter()
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = _search_path()
        try:
            module: ModuleType = load(
                name,
                [str(self.source)],
                extra_cflags=flags,
                extra_ldflags=["-fopenmp"],
                build_directory=str(folder),
                verbose=False,
            )
        finally:
            os.environ["PATH"] = path
        logger.warning("rnnx: %s compiled in %.0f s (cached in %s)", self.what, time.perf_counter() - start, folder)
        return module

    def reason(self) -> str | None:
        """Why the extension cannot run here (after trying to build it), or ``None``."""
        self.load()
        return self.error

    def note_unavailable_once(self) -> None:
        """Say once per process, on the ``rnnx`` logger, that ``backend="auto"`` runs without it, and why."""
        if not self.noted and self.error is not None:
            self.noted = True
            logger.warning(
                "rnnx: %s are unavailable (%s); backend='auto' runs torch's kernels or the reference path "
                "instead: the same results, more slowly",
                self.what,
                self.error,
            )


FUSED = Extension("rnnx_fused", SOURCE, "the fused CPU kernels")
"""The fused time loops (``csrc/fused_rnn.cpp``): :mod:`rnnx.fused.function`."""

STREAM = Extension("rnnx_stream", STREAM_SOURCE, "the streaming step kernels")
"""One step of a whole stack (``csrc/stream.cpp``): :class:`rnnx.Stream`."""

EXTENSIONS = (FUSED, STREAM)


def extension_name(capability: str | None = None) -> str:
    """The fused kernels' build name (see :meth:`Extension.name`)."""
    return FUSED.name(capability)


def build_directory(capability: str | None = None) -> Path:
    """Where the fused kernels' build for ``capability`` (this CPU's by default) lives."""
    return FUSED.folder(capability)


def load_extension() -> ModuleType | None:
    """The fused kernels, building them on the first call; ``None`` if they cannot be built."""
    return FUSED.load()


def unavailable_reason() -> str | None:
    """Why the fused path cannot run here (after trying to build it), or ``None``."""
    return FUSED.reason()


def note_unavailable_once() -> None:
    """Say once per process that ``backend="auto"`` runs without the fused kernels, and why."""
    FUSED.note_unavailable_once()


def build_kernels(capability: str | None = None) -> Path:
    """Build every kernel ahead of time for ``capability`` (this CPU's by default) and return the
    folder that holds the builds. Another instruction set is built in a child process, as torch
    detects it at start-up (``ATEN_CPU_CAPABILITY``).

    Raises:
        RuntimeError: the build failed; the message says why.
    """
    detected = torch.backends.cpu.get_cpu_capability()
    target = (capability or detected).upper()
    if target not in CAPABILITIES:
        raise ValueError(f"build: capability must be one of {CAPABILITIES}; got {capability!r}")
    if CAPABILITIES.index(target) > CAPABILITIES.index(detected):
        # A build is loaded once made; this CPU would fault on the other instruction set.
        raise RuntimeError(f"this CPU runs {detected}, not {target}: build for {target} on a machine that has it")
    if target != detected:
        env = {**os.environ, "ATEN_CPU_CAPABILITY": target.lower()}
        code = "import rnnx.fused.build as b; b.build_kernels()"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError((done.stderr.strip().splitlines() or ["the build failed"])[-1])
        return cache_root()
    for extension in EXTENSIONS:
        if extension.load() is None:
            raise RuntimeError(f"cannot build {extension.what}: {extension.error}")
    return cache_root()
