"""Dynamic int8 quantisation (``rnnx.quantize_dynamic``): speed and accuracy against float32.

    python benchmarks/quantize.py                 # the table and the trained classifier
    python benchmarks/quantize.py --quick         # the first shape only, 20 s of training

Part 1, per layer (LSTM, GRU; one layer) and shape ``(T, B, I, H)``: forward time under
``torch.inference_mode()`` of the float32 rnnx layer (``backend="auto"``; what ran is printed),
its ``torch.nn`` twin in float32, and ``rnnx.quantize_dynamic`` of it (torch's dynamic int8
module), in interleaved rounds after warm-up, each keeping its minimum over ``--repeats``
rounds; and the int8 output's error relative to float32 (max abs error / max abs output) on
inputs drawn from N(0, 1).

Part 2: a 2-layer rnnx.LSTM classifier trained for ``--train-seconds`` on scikit-learn's 8x8
digits read row by row (``rnnx.lab`` task ``digits``, mode ``row``; needs the ``lab`` extra),
then its float32 and int8 test accuracy and the share of test predictions that change.

The first line names the CPU and the instruction set torch detected.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

import rnnx
from rnnx.benchmark import interleaved_minimum, machine_line

SHAPES = ((100, 32, 64, 128), (1000, 1, 32, 128), (50, 128, 512, 512))
"""``(T, B, I, H)``."""


def time_layers(shapes: tuple[tuple[int, int, int, int], ...], repeats: int) -> None:
    print(
        "| layer | T | B | I | H | rnnx float32 (ms) | torch.nn float32 (ms) | int8 (ms) "
        "| speed-up (rnnx / int8) | error |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind in (rnnx.LSTM, rnnx.GRU):
        for t, b, i, h in shapes:
            torch.manual_seed(0)
            layer = kind(i, h).eval()
            twin = layer.to_torch().eval()
            quantized = rnnx.quantize_dynamic(layer)
            x = torch.randn(t, b, i)

            def job(module: nn.Module, x: Tensor = x) -> Callable[[], None]:
                def run() -> None:
                    with torch.inference_mode():
                        module(x)

                return run

            best = interleaved_minimum(
                {"rnnx": job(layer), "torch": job(twin), "int8": job(quantized)},
                repeats=repeats,
                warmup=2,
            )
            with torch.inference_mode():
                reference, got = layer(x)[0], quantized(x)[0]
            error = float((got - reference).abs().max() / reference.abs().max())
            ran = layer.backend_choice.backend if layer.backend_choice else "?"
            ms = {k: v * 1e3 for k, v in best.items()}
            print(
                f"| {kind.__name__} ({ran}) | {t} | {b} | {i} | {h} | {ms['rnnx']:.2f} | {ms['torch']:.2f} | "
                f"{ms['int8']:.2f} | {best['rnnx'] / best['int8']:.2f}x | {error:.2e} |"
            )


class Classifier(nn.Module):
    def __init__(self, inputs: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.rnn = rnnx.LSTM(inputs, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.head(self.rnn(x)[0][:, -1])
        return out


def trained_accuracy(seconds: float, hidden: int) -> None:
    from rnnx.lab.tasks import get_task

    task = get_task("digits", mode="row")
    train, test = task.train, task.test
    torch.manual_seed(0)
    model = Classifier(task.input_size, hidden, task.output_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    start, epochs = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        order = torch.randperm(len(train.targets))
        for index in order.split(32):
            loss = nn.functional.cross_entropy(model(train.inputs[index]), train.targets[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        epochs += 1
    model.eval()
    quantized = rnnx.quantize_dynamic(model)
    with torch.inference_mode():
        float_pred = model(test.inputs).argmax(-1)
        int8_pred = quantized(test.inputs).argmax(-1)
    n = len(test.targets)
    float_acc = float((float_pred == test.targets).float().mean())
    int8_acc = float((int8_pred == test.targets).float().mean())
    changed = int((float_pred != int8_pred).sum())
    print(
        f"\ndigits (row), 2-layer LSTM H={hidden}, {epochs} epochs in {time.perf_counter() - start:.0f} s: "
        f"test accuracy float32 {float_acc:.4f}, int8 {int8_acc:.4f} ({n} test digits; "
        f"{changed} predictions changed)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the first shape only, 20 s of training")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the timings (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per configuration (default 5)")
    parser.add_argument("--train-seconds", type=float, default=90.0, help="training time, 1 thread (default 90)")
    parser.add_argument("--hidden", type=int, default=64, help="the classifier's hidden size (default 64)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
    torch.set_num_threads(args.threads)
    print(machine_line())
    time_layers(SHAPES[:1] if args.quick else SHAPES, args.repeats)
    torch.set_num_threads(1)
    trained_accuracy(20.0 if args.quick else args.train_seconds, args.hidden)


if __name__ == "__main__":
    main()
