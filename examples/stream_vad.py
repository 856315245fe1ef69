"""A voice-activity-style detector, trained on whole sequences and run one frame at a time.

    python examples/stream_vad.py              # train (about 10 s on 2 cores), then stream
    python examples/stream_vad.py --steps 50   # shorter training

The signal is synthetic: noise, with bursts of a tone of random pitch. Each frame of 32 samples
becomes 16 features (the magnitudes of its spectrum), and a GRU with a linear head says, for
every frame, whether a burst is on. Trained on sequences of 100 frames, the model is then fed a
long signal frame by frame through ``rnnx.Stream``, as a device would: the state stays inside
the stream, each frame costs one compiled step. The streamed answers equal the whole-sequence
ones, and the script prints the latency per frame.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import rnnx

FRAME = 32  # samples per frame
FEATURES = FRAME // 2  # spectrum magnitudes per frame


def synthetic(batch: int, frames: int, *, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``(frames, batch, FEATURES)`` and labels ``(frames, batch)``: 1 where a tone plays."""
    on = torch.zeros(batch, frames)
    for b in range(batch):
        start = 0
        while start < frames:
            gap = int(torch.randint(5, 30, (1,), generator=generator))
            length = int(torch.randint(5, 25, (1,), generator=generator))
            on[b, start + gap : start + gap + length] = 1
            start += gap + length
    t = torch.arange(frames * FRAME, dtype=torch.float32)
    pitch = 0.05 + 0.4 * torch.rand(batch, 1, generator=generator)
    tone = torch.sin(2 * torch.pi * pitch * t) * on.repeat_interleave(FRAME, dim=1)
    samples = tone + 0.7 * torch.randn(batch, frames * FRAME, generator=generator)
    spectrum = torch.fft.rfft(samples.view(batch, frames, FRAME), dim=-1).abs()[..., 1:]
    return torch.log1p(spectrum).transpose(0, 1).contiguous(), on.t().contiguous()


class Detector(nn.Module):
    """``frames (T, B, FEATURES) -> logits (T, B)``: a GRU and a linear head."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.rnn = rnnx.GRU(FEATURES, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(frames)
        logits: torch.Tensor = self.head(out).squeeze(-1)
        return logits


def train(steps: int, *, seed: int = 0) -> tuple[Detector, float]:
    """Train on fresh batches; returns the model and its frame accuracy on a held-out batch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = Detector()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        frames, labels = synthetic(32, 100, generator=generator)
        loss = nn.functional.binary_cross_entropy_with_logits(model(frames), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    frames, labels = synthetic(64, 100, generator=generator)
    model.eval()
    with torch.no_grad():
        accuracy = ((model(frames) > 0).float() == labels).float().mean().item()
    return model, accuracy


def stream(model: Detector, frames: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """Feed ``frames (T, 1, FEATURES)`` one at a time; returns the logits ``(T, 1)`` and the
    seconds each frame took (the step and the head)."""
    detector = rnnx.Stream(model.rnn, batch_size=1)
    logits, latencies = [], []
    with torch.inference_mode():
        for frame in frames:
            start = time.perf_counter()
            logits.append(model.head(detector(frame)).squeeze(-1))
            latencies.append(time.perf_counter() - start)
    return torch.stack(logits), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--frames", type=int, default=2000, help="frames to stream")
    args = parser.parse_args()
    model, accuracy = train(args.steps)
    print(f"trained {args.steps} steps: frame accuracy {accuracy:.1%} on held-out signals")
    frames, labels = synthetic(1, args.frames, generator=torch.Generator().manual_seed(1))
    streamed, latencies = stream(model, frames)
    with torch.no_grad():
        whole = model(frames)
    difference = (streamed - whole).abs().max().item()
    latencies = sorted(latencies[100:])  # after warm-up
    median, p99 = latencies[len(latencies) // 2], latencies[int(0.99 * len(latencies))]
    streamed_accuracy = ((streamed > 0).float() == labels).float().mean().item()
    print(f"streamed {args.frames} frames one at a time: frame accuracy {streamed_accuracy:.1%}")
    print(f"  largest difference from the whole-sequence run: {difference:.1e}")
    print(f"  latency per frame (GRU step and head): median {median * 1e6:.1f} us, 99th percentile {p99 * 1e6:.1f} us")


if __name__ == "__main__":
    main()
