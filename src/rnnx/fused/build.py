"""Compiling the fused CPU kernels on first use, and caching them.

The C++ source (``csrc/fused_rnn.cpp``) is compiled with :func:`torch.utils.cpp_extension.load`
the first time a fused layer runs, into torch's extension cache, and reused afterwards. The
build is specialised to the instruction set PyTorch detects on this CPU, and that goes into
the extension's name, so a cache shared between different machines never loads a build
for the wrong CPU. Without a working compiler the fused path is unavailable: layers fall back
to the reference path and say so once, with the reason.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import warnings
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).with_name("csrc") / "fused_rnn.cpp"
HEADERS = sorted(SOURCE.parent.glob("*.h"))
DISABLE_ENV = "RNNX_DISABLE_FUSED"

_ISA_FLAGS = {
    "AVX512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl"],
    "AVX2": ["-mavx2", "-mfma"],
}

_lock = threading.Lock()
_module: ModuleType | None = None
_error: str | None = None
_warned = False


def compile_flags() -> tuple[str, list[str]]:
    """The CPU capability PyTorch detects here (e.g. ``AVX512``) and the compiler flags for it."""
    capability = torch.backends.cpu.get_cpu_capability()
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


def _decided() -> bool:
    """Whether the build was tried already (it succeeded or failed)."""
    return _module is not None or _error is not None


def load_extension() -> ModuleType | None:
    """The compiled extension, building it on the first call; ``None`` if it cannot be built."""
    global _module, _error
    if _decided():  # no lock on this path: torch.compile traces it, and cannot trace a lock
        return _module
    with _lock:
        if _decided():
            return _module
        if os.environ.get(DISABLE_ENV):
            _error = f"disabled by the environment variable {DISABLE_ENV}"
            return None
        capability, flags = compile_flags()
        source = b"".join(path.read_bytes() for path in (SOURCE, *HEADERS))
        digest = hashlib.sha256(source + " ".join(flags).encode()).hexdigest()[:12]
        name = f"rnnx_fused_{capability.lower()}_{digest}"
        path = os.environ.get("PATH", "")
        # The ninja that rnnx depends on lives beside this interpreter, on PATH or not.
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
        try:
            from torch.utils.cpp_extension import load

            _module = load(name, [str(SOURCE)], extra_cflags=flags, extra_ldflags=["-fopenmp"], verbose=False)
        except Exception as exc:  # no compiler, missing headers, ...: fall back, never crash
            _error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r}"
        finally:
            os.environ["PATH"] = path
        return _module


def unavailable_reason() -> str | None:
    """Why the fused path cannot run here (after trying to build it), or ``None``."""
    load_extension()
    return _error


def warn_fallback_once() -> None:
    """One warning per process that fused layers run on the reference path instead."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"rnnx: the fused CPU kernels are unavailable ({_error}); fused layers run on the "
            "reference path instead, with the same results, more slowly. Install a C++ compiler "
            "(e.g. g++) to enable them.",
            RuntimeWarning,
            stacklevel=4,
        )
