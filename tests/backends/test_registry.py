"""The backend architecture: every backend behind one protocol, chosen in one place.

- each backend of ``rnnx.backends.REGISTRY`` runs a call it says it can, to the reference's numbers;
- ``choose`` is the only function that decides (no module outside ``rnnx/backends`` calls the
  rule, imports a backend's internals or calls rnnx's kernels);
- rnnx's options are read once (``rnnx.modules.options``), with a clear error for one a module
  does not take.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import torch

import rnnx
from rnnx.backends import REGISTRY, LayerCall, choose, run
from rnnx.modules.inputs import read_input

SRC = Path(rnnx.__file__).resolve().parent


def _call(layer: Any, x: torch.Tensor) -> tuple[LayerCall, tuple[torch.Tensor, ...], list[torch.Tensor]]:
    seq = read_input(type(layer).__name__, x, input_size=layer.input_size, batch_first=layer.batch_first)
    return LayerCall(layer, seq), layer._initial_state(None, seq, seq.data), layer._call_weights(seq.data)


@pytest.mark.parametrize("name", ["native", "fused", "step"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_each_backend_runs_what_it_accepts_to_the_reference(name: str, batch_first: bool) -> None:
    torch.manual_seed(0)
    layer = rnnx.LSTM(3, 5, 2, batch_first=batch_first).eval()
    x = torch.randn(1, 9, 3) if batch_first else torch.randn(9, 1, 3)
    with torch.no_grad():
        call, state, weights = _call(layer, x)
        backend = REGISTRY[name]
        reason = backend.unsupported(call)
        if reason is not None:
            pytest.skip(f"{name} cannot run here: {reason}")
        out, final = backend.run(call, state, weights)
        ref_out, ref_final = REGISTRY["reference"].run(call, state, weights)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    for a, b in zip(final, ref_final, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_every_backend_has_the_protocol_and_its_name() -> None:
    assert set(REGISTRY) == {"reference", "native", "fused", "step", "graph", "onnx-lstm"}
    for name, backend in REGISTRY.items():
        assert backend.name == name
        assert callable(backend.unsupported)
        assert callable(backend.run)


def test_choose_is_what_the_module_ran() -> None:
    layer = rnnx.GRU(3, 4, layer_norm=True)
    x = torch.randn(10, 2, 3)
    call, state, weights = _call(layer, x)
    choice = choose(call)
    out, _ = run(call, choice, state, weights)
    module_out, _ = layer(x)
    assert layer.backend_choice == choice
    torch.testing.assert_close(out, module_out)


def test_the_native_backend_names_what_it_cannot_run() -> None:
    call, _, _ = _call(rnnx.LSTM(3, 4, peephole=True, zoneout=0.1), torch.randn(4, 2, 3))
    reason = REGISTRY["native"].unsupported(call)
    assert reason is not None
    assert "peephole" in reason
    assert "zoneout" in reason


def _imported(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


# The rule's pieces, which only rnnx/backends may use: a module asks choose() and nothing else.
_DECIDING = ("choose_backend", "choose_for_export", "fused_faster", "fused_unsupported", "sequence_faster")


@pytest.mark.parametrize("package", ["modules", "inspection", "seq2seq", "lab", "claims"])
def test_only_the_backends_decide_and_call_the_kernels(package: str) -> None:
    found = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            if name.startswith("rnnx.fused") or name.rsplit(".", 1)[-1] in _DECIDING:
                found.append(f"{path.relative_to(SRC)} imports {name}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("cls", [rnnx.RNN, rnnx.LSTM, rnnx.GRU, rnnx.IndRNN, rnnx.RNNCell, rnnx.LSTMCell, rnnx.GRUCell])
def test_a_misspelt_option_is_named_with_the_options(cls: type) -> None:
    with pytest.raises(TypeError, match=rf"{cls.__name__}: got an unexpected keyword argument 'zonout'; its options"):
        cls(3, 4, zonout=0.1)


@pytest.mark.parametrize("cls", [rnnx.RNN, rnnx.GRU, rnnx.RNNCell, rnnx.GRUCell])
def test_lstm_options_off_are_accepted_by_every_family(cls: type) -> None:
    module = cls(3, 4, peephole=False, forget_bias=None)
    assert module.cell.native_mode is not None


def test_indrnn_takes_the_regularisers_only() -> None:
    with pytest.raises(TypeError, match=r"IndRNN: got an unexpected keyword argument 'layer_norm'"):
        rnnx.IndRNN(3, 4, layer_norm=True)
    assert rnnx.IndRNN(3, 4, zoneout=0.1, weight_drop=0.2).zoneout == (0.1,)


def test_mode_is_the_family_s_whatever_the_variant() -> None:
    assert rnnx.LSTM(3, 4, layer_norm=True).mode == torch.nn.LSTM(3, 4).mode
    assert rnnx.RNN(3, 4, nonlinearity="relu", layer_norm=True).mode == torch.nn.RNN(3, 4, nonlinearity="relu").mode
    assert rnnx.GRU(3, 4).mode == "GRU"
