"""Run PyTorch's own recurrent-layer tests on ``torch.nn`` and on rnnx, and compare.

Usage::

    python tools/torch_nn_suite.py PYTORCH_DIR [--only torch|rnnx] [--verbose]

``PYTORCH_DIR`` is a checkout of pytorch/pytorch, ideally at the tag of the installed torch; its
``test/test_nn.py`` (the RNN, LSTM and GRU tests), ``test/test_modules.py`` (the ``module_db``
entries of the six classes) and ``test/nn/test_packed_sequence.py`` are run twice with pytest:
once unchanged, once with ``torch.nn.RNN``, ``LSTM``, ``GRU``, ``RNNCell``, ``LSTMCell`` and
``GRUCell`` replaced by rnnx's classes before any test module is imported (so ``module_db``,
built at import, holds rnnx's classes under the same test names). The script prints how many
tests pass on each and every test that passes on ``torch.nn`` but not on rnnx, and exits 1 if
there is one outside :data:`PRIVATE_INTERNALS`.

PyTorch's test helpers import ``expecttest``: ``pip install expecttest`` (or put it on
``PYTHONPATH``). The checkout is only read: pytest runs without its cache and without bytecode
files. The same file is also the pytest plugin that does the replacing (``-p torch_nn_suite``).
See docs/torch_nn_tests.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILES = ("test/test_nn.py", "test/test_modules.py", "test/nn/test_packed_sequence.py")
CLASSES = ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")
MODE_VARIABLE = "RNNX_TORCH_NN_SUITE"  # "torch" or "rnnx", read by the plugin half
RESULTS_VARIABLE = "RNNX_TORCH_NN_SUITE_RESULTS"  # where the plugin half writes the outcomes

# test_nn.py holds every torch.nn test; these are its recurrent-layer ones (matched in the test
# name, which for device-type tests carries a _cpu_float32-like suffix).
NN_WORDS = ("rnn", "lstm", "gru")
NN_NAMES = (
    "test_cudnn_forward_exception",
    "test_cudnn_weight_format",
    "test_cudnn_weight_tying",
    "test_partial_flat_weights",
    "test_pack_sequence_batch_sizes_throw",
    "test_variable_sequence",
)
MODULE_DB_NAMES = tuple(f"nn_{name}_" for name in CLASSES)  # test_forward_nn_LSTM_cpu_float32

#: Tests of torch.nn's private internals, not of the public behaviour rnnx reproduces: they
#: run and are reported, but do not count against rnnx. Keyed by test name prefix.
PRIVATE_INTERNALS: dict[str, str] = {}


def selected(path: str, name: str) -> bool:
    """Whether the test ``name`` of the file ``path`` (relative, ``test/...``) is run."""
    if path.endswith("test_nn.py"):
        lowered = name.lower()
        return any(word in lowered for word in NN_WORDS) or name.startswith(NN_NAMES)
    if path.endswith("test_modules.py"):
        return any(key in name for key in MODULE_DB_NAMES)
    return True


def private_reason(name: str) -> str | None:
    for prefix, reason in PRIVATE_INTERNALS.items():
        if name.startswith(prefix):
            return reason
    return None


# -- the pytest plugin half (loaded in the child process with -p torch_nn_suite) ---------------


def replace_torch_classes() -> None:
    """Put rnnx's six classes where torch.nn's tests look them up."""
    if "torch.testing._internal.common_modules" in sys.modules:
        raise RuntimeError("torch_nn_suite: common_modules was imported before the classes were replaced")
    import torch.nn
    import torch.nn.modules
    import torch.nn.modules.rnn

    import rnnx

    for name in CLASSES:
        for namespace in (torch.nn, torch.nn.modules, torch.nn.modules.rnn):
            setattr(namespace, name, getattr(rnnx, name))


_outcomes: dict[str, dict[str, str]] = {}


def pytest_configure(config: Any) -> None:
    if os.environ.get(MODE_VARIABLE) == "rnnx":
        replace_torch_classes()


def pytest_report_header(config: Any) -> str:
    import torch.nn

    classes = ", ".join(f"{getattr(torch.nn, n).__module__}.{n}" for n in CLASSES)
    return f"torch_nn_suite ({os.environ.get(MODE_VARIABLE, 'torch')}): {classes}"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    keep, drop = [], []
    for item in items:
        path = Path(str(item.path)).as_posix()
        (keep if selected(path, item.name) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_logreport(report: Any) -> None:
    entry = _outcomes.setdefault(report.nodeid, {"outcome": "passed"})
    if report.failed:
        if entry["outcome"] != "failed":
            message = report.longreprtext.strip().splitlines()
            entry.update(outcome="failed", when=report.when, message=message[-1] if message else "")
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    elif report.when == "call" and report.passed and hasattr(report, "wasxfail"):
        entry["outcome"] = "xpassed"


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    target = os.environ.get(RESULTS_VARIABLE)
    if target:
        Path(target).write_text(json.dumps(_outcomes, indent=1, sort_keys=True))


# -- the runner half -----------------------------------------------------------------------


@dataclass
class Run:
    mode: str
    outcomes: dict[str, dict[str, str]]

    def passed(self) -> set[str]:
        return {test for test, o in self.outcomes.items() if o["outcome"] == "passed"}


def run_suite(pytorch: Path, mode: str, *, verbose: bool) -> Run:
    files = [pytorch / f for f in FILES if (pytorch / f).is_file()]
    missing = [f for f in FILES if not (pytorch / f).is_file()]
    if missing:
        print(f"note: not found under {pytorch}: {', '.join(missing)}", file=sys.stderr)
    if not files:
        raise SystemExit(f"error: none of {', '.join(FILES)} under {pytorch}")
    with tempfile.TemporaryDirectory() as scratch:
        ini = Path(scratch, "pytest.ini")
        ini.write_text("[pytest]\n")  # none of rnnx's or PyTorch's settings: plain pytest
        results = Path(scratch, "results.json")
        tools = str(Path(__file__).resolve().parent)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        env.update({MODE_VARIABLE: mode, RESULTS_VARIABLE: str(results)})
        env["PYTHONPATH"] = os.pathsep.join(p for p in (tools, env.get("PYTHONPATH", "")) if p)
        command = [sys.executable, "-m", "pytest", "-c", str(ini), "--rootdir", str(pytorch)]
        command += ["-p", "torch_nn_suite", "-p", "no:cacheprovider", "-q" if verbose else "-qq", "-rN"]
        command += [str(f) for f in files]
        print(f"== {mode}: {' '.join(command[2:])}", flush=True)
        subprocess.run(command, env=env, cwd=scratch, check=False, stdout=None if verbose else subprocess.DEVNULL)
        if not results.is_file():
            raise SystemExit(f"error: the {mode} run wrote no results (pytest failed to start?)")
        return Run(mode, json.loads(results.read_text()))


def short(nodeid: str) -> str:
    return nodeid.removeprefix("test/")


def report(runs: dict[str, Run]) -> int:
    for run in runs.values():
        counts: dict[str, int] = {}
        for o in run.outcomes.values():
            counts[o["outcome"]] = counts.get(o["outcome"], 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        print(f"{run.mode}: {len(run.outcomes)} tests: {summary}")
    if set(runs) != {"torch", "rnnx"}:
        return 0
    torch_run, rnnx_run = runs["torch"], runs["rnnx"]
    lost = sorted(torch_run.passed() - rnnx_run.passed())
    blocking = [t for t in lost if private_reason(t.rsplit("::", 1)[-1]) is None]
    print(f"passed on torch.nn: {len(torch_run.passed())}")
    print(f"passed on rnnx:     {len(rnnx_run.passed())}")
    print(f"passed on torch.nn but not on rnnx: {len(lost)} ({len(lost) - len(blocking)} private internals)")
    for test in lost:
        o = rnnx_run.outcomes.get(test, {"outcome": "not run"})
        reason = private_reason(test.rsplit("::", 1)[-1])
        tag = "private internals" if reason else o["outcome"]
        print(f"  {short(test)} [{tag}] {o.get('message', '')}".rstrip())
    gained = sorted(rnnx_run.passed() - torch_run.passed())
    if gained:
        print(f"passed on rnnx but not on torch.nn: {len(gained)}")
        for test in gained:
            print(f"  {short(test)} [torch.nn: {torch_run.outcomes.get(test, {}).get('outcome', 'not run')}]")
    return 1 if blocking else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("pytorch", type=Path, help="a pytorch/pytorch checkout (holds test/test_nn.py)")
    parser.add_argument("--only", choices=("torch", "rnnx"), help="run one side only")
    parser.add_argument("--verbose", action="store_true", help="show pytest's own output")
    parser.add_argument("--save", type=Path, help="also write every test's outcome per side to this JSON file")
    args = parser.parse_args(argv)
    modes = [args.only] if args.only else ["torch", "rnnx"]
    runs = {mode: run_suite(args.pytorch.resolve(), mode, verbose=args.verbose) for mode in modes}
    if args.save:
        args.save.write_text(json.dumps({mode: run.outcomes for mode, run in runs.items()}, indent=1, sort_keys=True))
    return report(runs)


if __name__ == "__main__":
    sys.exit(main())
