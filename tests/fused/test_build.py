"""Building the fused kernels: said when it starts and ends, ahead of time with ``rnnx build``,
loaded from the cache without a compiler, and a failure that says what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import rnnx
from rnnx.cli import main
from rnnx.fused import build


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A process that has not tried to build yet, with an empty extension cache."""
    monkeypatch.setattr(build.FUSED, "module", None)
    monkeypatch.setattr(build.FUSED, "error", None)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    return tmp_path


def test_the_name_keys_instruction_set_sources_flags_and_torch_version(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {build.extension_name(c) for c in build.CAPABILITIES}
    assert len(names) == 3
    assert sorted(n.split("_")[2] for n in names) == ["avx2", "avx512", "default"]
    before = build.extension_name("AVX2")
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    assert build.extension_name("AVX2") != before


def test_compiling_is_said_when_it_starts_and_ends(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def fake_load(name: str, sources: list[str], **options: object) -> ModuleType:
        calls.append((name, options["build_directory"]))
        return ModuleType(name)

    monkeypatch.setattr("torch.utils.cpp_extension.load", fake_load)
    with caplog.at_level("WARNING", logger="rnnx"):
        assert build.load_extension() is not None
        assert build.load_extension() is not None  # decided: no second build
    assert len(calls) == 1
    assert Path(str(calls[0][1])) == fresh / build.extension_name()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("rnnx: compiling the fused CPU kernels for ")
    assert "'rnnx build' does this ahead of time" in lines[0]
    assert lines[1].startswith("rnnx: the fused CPU kernels compiled in ")
    assert str(fresh) in lines[1]


def test_a_compiler_error_is_reported_in_one_line(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_load(name: str, sources: list[str], **options: object) -> ModuleType:
        raise RuntimeError(
            "Error building extension 'x':\n[1/2] c++ -c fused_rnn.cpp\n"
            "fused_rnn.cpp:3:10: fatal error: omp.h: No such file or directory\nninja: build stopped"
        )

    monkeypatch.setattr("torch.utils.cpp_extension.load", failing_load)
    assert build.load_extension() is None
    reason = build.unavailable_reason()
    assert reason is not None
    assert reason.startswith("the C++ build failed: fused_rnn.cpp:3:10: fatal error: omp.h: No such file")
    assert "OpenMP headers missing" in reason
    assert "\n" not in reason


def test_a_missing_compiler_is_named(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    assert build.load_extension() is None
    reason = build.unavailable_reason()
    assert reason is not None
    assert reason.startswith("no C++ compiler (looked for '/nonexistent/c++' on PATH")


def test_missing_python_headers_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(build.sysconfig, "get_paths", lambda: {"include": str(tmp_path)})
    reason = build.missing_requirement()
    assert reason is not None
    assert reason.startswith("Python's C headers are missing (no Python.h in")


def test_rnnx_build_refuses_an_instruction_set_this_cpu_lacks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert main(["build", "--capability", "avx512"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "rnnx build: error: this CPU runs AVX2, not AVX512: build for AVX512 on a machine that has it"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rnnx.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_rnnx_build_without_a_compiler_exits_2_with_one_line(tmp_path: Path) -> None:
    done = _run(["build"], {"CXX": "/nonexistent/c++", "TORCH_EXTENSIONS_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rnnx build: error: cannot build the fused CPU kernels: no C++ compiler (looked for '/nonexistent/c++' "
        "on PATH; install one, e.g. 'apt-get install g++', or set CXX to its path)"
    ]
    assert list(tmp_path.iterdir()) == []  # nothing written where nothing was built


@pytest.mark.skipif(rnnx.fused.unavailable_reason() is not None, reason="no C++ compiler")
def test_a_cached_build_loads_without_a_compiler_and_rnnx_build_reports_it() -> None:
    done = _run(["build"], {"CXX": "/nonexistent/c++"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"rnnx build: the fused CPU kernels, the streaming step kernels for {build.compile_flags()[0]} "
        f"ready in {build.cache_root()}"
    )
    assert "compiling" not in done.stderr
