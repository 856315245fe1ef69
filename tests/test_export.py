"""Export: every layer and variant to ONNX and torch.export with dynamic length and batch, run at
other lengths and batch sizes than the example's; what cannot export raises at export time."""

from __future__ import annotations

import itertools
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import rnnx
import rnnx.export
from rnnx.backends import BackendChoice

ort = pytest.importorskip("onnxruntime", reason="the export extra (onnxruntime) is not installed")
pytest.importorskip("onnxscript", reason="the export extra (onnxscript) is not installed")

VARIANTS: list[tuple[type, dict[str, Any]]] = [
    (rnnx.LSTM, {}),
    (rnnx.LSTM, {"layer_norm": True}),
    (rnnx.LSTM, {"peephole": True, "forget_bias": 1.0}),
    (rnnx.LSTM, {"proj_size": 3}),
    (rnnx.LSTM, {"zoneout": (0.2, 0.1), "recurrent_dropout": 0.3, "weight_drop": 0.2}),
    (rnnx.GRU, {}),
    (rnnx.GRU, {"layer_norm": True, "zoneout": 0.1}),
    (rnnx.RNN, {}),
    (rnnx.RNN, {"nonlinearity": "relu", "layer_norm": True}),
    (rnnx.IndRNN, {}),
]
LAYOUTS = [(1, False, False), (2, True, False), (2, False, True), (1, True, True)]
FULL = [(cls, options, *layout) for (cls, options), layout in itertools.product(VARIANTS, LAYOUTS)]
"""Every variant with every layout (layers, bidirectional, batch_first): 40 exports, with --slow."""
QUICK = [
    (rnnx.LSTM, {}, 1, False, False),
    (rnnx.LSTM, {"layer_norm": True, "peephole": True, "proj_size": 3, "zoneout": (0.2, 0.1)}, 2, True, False),
    (rnnx.LSTM, {"forget_bias": 1.0, "recurrent_dropout": 0.3, "weight_drop": 0.2}, 1, True, True),
    (rnnx.GRU, {}, 2, False, True),
    (rnnx.GRU, {"layer_norm": True, "zoneout": 0.1}, 1, True, True),
    (rnnx.RNN, {"nonlinearity": "relu", "layer_norm": True}, 2, True, False),
    (rnnx.IndRNN, {}, 2, False, False),
]
"""Every variant, and every layout option, at least once: the suite's share."""


def _id(case: tuple[Any, ...]) -> str:
    cls, options, layers, bidirectional, batch_first = case
    flags = "".join(f"-{k}" for k in options)
    return f"{cls.__name__}{flags}-L{layers}{'-bi' if bidirectional else ''}{'-bf' if batch_first else ''}"


@pytest.fixture(autouse=True)
def _quiet_exporter() -> Any:
    """torch.onnx reports its progress on stdout and its logger."""
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _batch(x: torch.Tensor, batch_first: bool) -> torch.Tensor:
    return x.transpose(0, 1).contiguous() if batch_first else x


def _close_to_scale(got: np.ndarray, expected: torch.Tensor, what: str, *, share: float = 1e-5) -> None:
    """Within ``share`` of the tensor's own scale (float32 rounding of another summation order).

    Layer-normalised cells get 1e-4, the project's float32 rule (tests/fused): normalising 4H = 20
    gate features amplifies rounding, and onnxruntime and rnnx each deviate from a float64 oracle by
    up to 2.3e-5 of scale there (measured at T = 9, B = 1), so they differ from each other by as much.
    """
    reference = expected.detach().numpy()
    assert got.shape == reference.shape, f"{what}: shape {got.shape}, expected {reference.shape}"
    scale = float(np.abs(reference).max()) or 1.0
    error = float(np.abs(got - reference).max())
    assert error <= share * scale, f"{what}: error {error:.2e} exceeds {share:g} of scale {scale:.2e}"


def _check_onnx(case: tuple[Any, ...], tmp_path: Path) -> None:
    cls, options, layers, bidirectional, batch_first = case
    torch.manual_seed(0)
    layer = cls(4, 5, layers, bidirectional=bidirectional, batch_first=batch_first, **options).eval()
    path = rnnx.export.onnx(layer, tmp_path / "layer.onnx", example=_batch(torch.randn(6, 2, 4), batch_first))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names[0] == "output"
    share = 1e-4 if options.get("layer_norm") else 1e-5
    for steps, batch in itertools.product((1, 9, 17), (1, 3)):
        x = _batch(torch.randn(steps, batch, 4), batch_first)
        got = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            out, state = layer(x)
        states = state if isinstance(state, tuple) else (state,)
        _close_to_scale(got[0], out, f"output at T={steps}, B={batch}", share=share)
        for g, s, name in zip(got[1:], states, names[1:], strict=True):
            _close_to_scale(g, s, f"{name} at T={steps}, B={batch}", share=share)


@pytest.mark.parametrize("case", QUICK, ids=_id)
def test_every_variant_exports_to_onnx_with_dynamic_length_and_batch(case: tuple[Any, ...], tmp_path: Path) -> None:
    _check_onnx(case, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", FULL, ids=_id)
def test_every_variant_and_layout_exports_to_onnx(case: tuple[Any, ...], tmp_path: Path) -> None:
    _check_onnx(case, tmp_path)


@pytest.mark.parametrize("case", [QUICK[1], QUICK[3]], ids=_id)
def test_torch_export_runs_at_other_lengths(case: tuple[Any, ...]) -> None:
    cls, options, layers, bidirectional, batch_first = case
    layer = cls(4, 5, layers, bidirectional=bidirectional, batch_first=batch_first, **options).eval()
    steps, batch = torch.export.Dim("steps", min=1), torch.export.Dim("batch", min=1)
    dims = {0: batch, 1: steps} if batch_first else {0: steps, 1: batch}
    program = torch.export.export(layer, (_batch(torch.randn(6, 2, 4), batch_first),), dynamic_shapes=({**dims},))
    for t, b in ((1, 1), (11, 3)):
        x = _batch(torch.randn(t, b, 4), batch_first)
        with torch.no_grad():
            expected = layer(x)
        torch.testing.assert_close(program.module()(x), expected)


@pytest.mark.parametrize("cls", [rnnx.LSTM, rnnx.GRU, rnnx.RNN])
def test_torchscript_exporter_gives_onnx_recurrent_nodes(cls: type, tmp_path: Path) -> None:
    layer = cls(4, 5, 2, bidirectional=True).eval()  # GRU and RNN would run on rnnx's kernel
    path = tmp_path / "ts.onnx"
    torch.onnx.export(
        layer,
        (torch.randn(10, 2, 4),),
        str(path),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "T", 1: "B"}},
    )
    import onnx

    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"LSTM", "GRU", "RNN"} & ops
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(17, 3, 4)
    with torch.no_grad():
        expected, _ = layer(x)
    _close_to_scale(session.run(None, {"x": x.numpy()})[0], expected, "output")


PEEPHOLE_CASES = [
    (1, False, False, True, False),
    (2, True, True, True, False),
    (1, False, False, False, False),
    (2, True, False, True, True),
]
"""Peephole LSTMs for the TorchScript exporter: (layers, bidirectional, batch_first, bias, given (h0, c0))."""


def _peephole_id(case: tuple[Any, ...]) -> str:
    layers, bidirectional, batch_first, bias, given = case
    flags = ("-bi" if bidirectional else "") + ("-bf" if batch_first else "") + ("" if bias else "-nobias")
    return f"L{layers}{flags}{'-hx' if given else ''}"


@pytest.mark.parametrize("case", PEEPHOLE_CASES, ids=_peephole_id)
def test_torchscript_exporter_gives_a_peephole_lstm_onnx_lstm_nodes_with_their_p_input(
    case: tuple[Any, ...], tmp_path: Path
) -> None:
    import onnx

    layers, bidirectional, batch_first, bias, given = case
    torch.manual_seed(2)
    layer = rnnx.LSTM(4, 5, layers, bias=bias, bidirectional=bidirectional, batch_first=batch_first, peephole=True)
    layer.eval()
    with torch.no_grad():  # peepholes as large as the other weights, so that a misplaced row shows
        for name, parameter in layer.named_parameters():
            if name.startswith("weight_peephole"):
                parameter.normal_()
    rows = layers * (2 if bidirectional else 1)
    time, batch = (1, 0) if batch_first else (0, 1)

    def state(b: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        return (torch.randn(rows, b, 5), torch.randn(rows, b, 5)) if given else None

    names = ["x", *(["h0", "c0"] if given else [])]
    axes = {"x": {time: "T", batch: "B"}} | ({"h0": {1: "B"}, "c0": {1: "B"}} if given else {})
    example = _batch(torch.randn(6, 2, 4), batch_first)
    path = tmp_path / "peephole.onnx"
    torch.onnx.export(
        layer,
        (example, state(2)) if given else (example,),
        str(path),
        dynamo=False,
        input_names=names,
        output_names=["output", "h_n", "c_n"],
        dynamic_axes=axes,
    )
    assert layer.backend_choice == BackendChoice(
        "onnx-lstm", "auto", "exporting: ONNX's LSTM node with its peephole input P"
    )
    graph = onnx.load(str(path)).graph
    nodes = [node for node in graph.node if node.op_type == "LSTM"]
    assert len(nodes) == layers, [node.op_type for node in graph.node]
    assert all(len(node.input) == 8 and node.input[7] for node in nodes), "every LSTM node has its P input"
    assert not {"Loop", "Scan"} & {node.op_type for node in graph.node}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for steps, b in itertools.product((1, 9, 17), (1, 3)):
        x = _batch(torch.randn(steps, b, 4), batch_first)
        hx = state(b)
        feed = {"x": x.numpy()} | ({"h0": hx[0].numpy(), "c0": hx[1].numpy()} if hx is not None else {})
        got = session.run(None, feed)
        with torch.no_grad():
            out, (h, c) = layer(x, hx)
        for g, expected, what in zip(got, (out, h, c), ("output", "h_n", "c_n"), strict=True):
            _close_to_scale(g, expected, f"{what} at T={steps}, B={b}")


def test_tracing_a_projected_peephole_lstm_refuses_with_the_reason(tmp_path: Path) -> None:
    layer = rnnx.LSTM(4, 5, peephole=True, proj_size=3).eval()
    match = r"would unroll the time loop.*nor ONNX's LSTM node .*no recurrent projection \(proj_size=3\).*dynamo=True"
    with pytest.raises(ValueError, match=match):
        torch.onnx.export(layer, (torch.randn(10, 2, 4),), str(tmp_path / "p.onnx"), dynamo=False)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"layer_norm": True}, r"\(layer_norm=True has no native kernel\), nor ONNX's LSTM node"),
        (
            {"peephole": True, "zoneout": 0.1},
            r"nor ONNX's LSTM node with its peephole input P \(the node has no zoneout",
        ),
    ],
)
def test_tracing_a_variant_refuses_instead_of_fixing_the_length(
    options: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    layer = rnnx.LSTM(4, 5, **options).eval()
    x = torch.randn(10, 2, 4)
    match = rf"would unroll the time loop for the example's length.*{reason}.*dynamo=True"
    with pytest.raises(ValueError, match=match):
        torch.onnx.export(layer, (x,), str(tmp_path / "v.onnx"), dynamo=False)
    with pytest.raises(ValueError, match=match):
        torch.jit.trace(layer, (x,))


def test_torch_jit_trace_of_a_peephole_lstm_refuses_outside_onnx_export() -> None:
    match = r"\(peephole=True has no native kernel\).*torch.jit.trace outside torch.onnx.export"
    with pytest.raises(ValueError, match=match):
        torch.jit.trace(rnnx.LSTM(4, 5, peephole=True).eval(), (torch.randn(10, 2, 4),))


def test_what_cannot_export_says_why(tmp_path: Path) -> None:
    x = torch.randn(6, 2, 4)
    with pytest.raises(ValueError, match=r"training mode with zoneout .* call \.eval\(\) before exporting"):
        torch.export.export(rnnx.LSTM(4, 5, zoneout=0.1).train(), (x,))
    with pytest.raises(ValueError, match=r"backend='fused' has no exported form"):
        torch.export.export(rnnx.GRU(4, 5, backend="fused").eval(), (x,))
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor([6, 3]))
    with pytest.raises(ValueError, match="cannot export a call on a PackedSequence"):
        torch.export.export(rnnx.LSTM(4, 5, layer_norm=True).eval(), (packed,))
    with pytest.raises(TypeError, match="example must be given"):
        rnnx.export.onnx(rnnx.GRU(4, 5), tmp_path / "m.onnx")


@pytest.mark.parametrize(("cls", "options"), [(rnnx.LSTM, {"layer_norm": True, "proj_size": 2}), (rnnx.GRU, {})])
def test_a_stream_exports_its_step_with_the_state_as_inputs_and_outputs(
    cls: type, options: dict[str, Any], tmp_path: Path
) -> None:
    torch.manual_seed(1)
    layer = cls(4, 5, 2, **options).eval()
    path = rnnx.export.onnx(rnnx.Stream(layer, batch_size=2), tmp_path / "step.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names[0] == "x"
    stream = rnnx.Stream(layer, batch_size=3)  # another batch than the export's
    state = [
        np.zeros(s.shape, np.float32) for s in (stream.state if isinstance(stream.state, tuple) else (stream.state,))
    ]
    with torch.no_grad():
        for _ in range(5):
            x = torch.randn(3, 4)
            y, *state = session.run(None, {"x": x.numpy(), **dict(zip(names[1:], state, strict=True))})
            _close_to_scale(y, stream(x), "y", share=1e-4 if options.get("layer_norm") else 1e-5)
