"""rnnx demo: the tutorials' shape examples, checked against torch.nn, then a small GRU
learning to predict a sine wave.

    python examples/demo.py            # full demo (about half a minute on 2 cores)
    python examples/demo.py --steps 50 # shorter training
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

import rnnx


def tensors(value: object) -> list[torch.Tensor]:
    """Every tensor in a nested module output, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    assert isinstance(value, tuple)
    return [t for item in value for t in tensors(item)]


def same_as_torch(ours: nn.Module, theirs_cls: type[nn.Module], x: torch.Tensor) -> bool:
    """Whether ``ours`` returns torch.nn's numbers after loading the same weights."""
    theirs = ours.to_torch()  # type: ignore[operator]
    assert isinstance(theirs, theirs_cls)
    pairs = zip(tensors(ours(x)), tensors(theirs(x)), strict=True)
    return all(torch.allclose(a, b, atol=1e-6) for a, b in pairs)


def tutorial_shapes() -> None:
    print("== The tutorials' examples ==")
    torch.manual_seed(0)
    rnn = rnnx.RNN(5, 10, 2)  # input_size=5, hidden_size=10, num_layers=2
    x = torch.randn(6, 3, 5)  # (T=6, B=3, I=5)
    out, h_n = rnn(x)
    print(f"RNN(5, 10, 2) on {tuple(x.shape)}: output {tuple(out.shape)}, h_n {tuple(h_n.shape)}")
    assert out.shape == (6, 3, 10)
    assert h_n.shape == (2, 3, 10)
    assert torch.equal(out[-1], h_n[-1]), "the last output step is the top layer's final state"
    print(
        "  out[-1] == h_n[-1]:",
        torch.equal(out[-1], h_n[-1]),
        "| same as torch.nn.RNN:",
        same_as_torch(rnn, nn.RNN, x),
    )

    x = torch.randn(1, 10, 4)  # (B=1, T=10, I=4), batch first
    for name, cls, torch_cls in (
        ("RNN", rnnx.RNN, nn.RNN),
        ("LSTM", rnnx.LSTM, nn.LSTM),
        ("GRU", rnnx.GRU, nn.GRU),
    ):
        layer = cls(4, 8, num_layers=2, bidirectional=True, batch_first=True)
        out, state = layer(x)
        h_n = state[0] if isinstance(state, tuple) else state
        extra = f", c_n {tuple(state[1].shape)}" if isinstance(state, tuple) else ""
        print(
            f"{name}(4, 8, num_layers=2, bidirectional=True, batch_first=True) on {tuple(x.shape)}: "
            f"output {tuple(out.shape)}, h_n {tuple(h_n.shape)}{extra}"
        )
        assert out.shape == (1, 10, 16)
        assert h_n.shape == (4, 1, 8)
        # Forward direction ends at the last step, backward direction at the first.
        assert torch.allclose(out[:, -1, :8], h_n[-2])
        assert torch.allclose(out[:, 0, 8:], h_n[-1])
        print(f"  same as torch.nn.{name}:", same_as_torch(layer, torch_cls, x))


class SineForecaster(nn.Module):
    """A GRU reading a window of a noisy sine wave, and a linear head predicting the next value."""

    def __init__(self, hidden_size: int = 32) -> None:
        super().__init__()
        self.gru = rnnx.GRU(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, window: torch.Tensor) -> torch.Tensor:  # (B, T, 1) -> (B, 1)
        out, _ = self.gru(window)
        return self.head(out[:, -1])


def sine_batch(batch: int, steps: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    phase = torch.rand(batch, 1, generator=generator) * 2 * math.pi
    freq = 0.1 + 0.2 * torch.rand(batch, 1, generator=generator)
    t = torch.arange(steps + 1, dtype=torch.float32)
    wave = torch.sin(phase + freq * t) + 0.05 * torch.randn(batch, steps + 1, generator=generator)
    return wave[:, :steps, None], wave[:, steps:]


def train_sine(steps: int) -> tuple[float, float]:
    print("\n== A GRU learns to predict the next value of a sine wave ==")
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = SineForecaster()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x_val, y_val = sine_batch(256, 40, generator)
    losses = []
    for step in range(1, steps + 1):
        x, y = sine_batch(64, 40, generator)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 1 or step % max(1, steps // 10) == 0:
            with torch.no_grad():
                val = nn.functional.mse_loss(model(x_val), y_val).item()
            losses.append(val)
            print(f"step {step:4d}  validation MSE {val:.4f}")
    print(f"validation MSE fell from {losses[0]:.4f} to {losses[-1]:.4f}")
    return losses[0], losses[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="training steps for the sine GRU")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1; got {args.steps}")
    tutorial_shapes()
    train_sine(args.steps)


if __name__ == "__main__":
    main()
