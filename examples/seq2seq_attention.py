"""The fixed context vector's limit, and attention's fix: sequence reversal accuracy by length.

Two models of the same size learn to reverse random sequences of 5 to 40 symbols: one reads
the source only through the encoder's final state (the context vector, ``bridge="copy"``, no
attention; Sutskever et al. 2014, Cho et al. 2014), the other also attends over every
encoder output (Luong et al. 2015). Held-out exact match and token accuracy, decoded greedily
and free-running, are printed per source-length bucket.

    python examples/seq2seq_attention.py              # the documented run
    python examples/seq2seq_attention.py --steps 20   # a quick check that it runs
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from rnnx import seq2seq
from rnnx.lab.config import TrainConfig
from rnnx.lab.metrics import translation_scores
from rnnx.lab.tasks import get_task
from rnnx.lab.train import ProgressEvent, train


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--min-length", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=40)
    parser.add_argument("--bucket", type=int, default=5, help="width of the length buckets")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=40_000)
    parser.add_argument("--test-size", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    options = {
        "seed": args.seed,
        "train_size": args.train_size,
        "valid_size": 100,
        "test_size": args.test_size,
        "min_length": args.min_length,
        "max_length": args.max_length,
    }
    task = get_task("reverse", **options).info["pairs"]
    buckets = list(range(args.min_length, args.max_length + 1, args.bucket))
    results: dict[str, list[float]] = {}
    for attention in (None, "general"):
        name = "attention" if attention else "context vector"
        torch.manual_seed(args.seed)
        config = seq2seq.Seq2SeqConfig(cell="gru", embedding_dim=32, hidden_size=args.hidden, attention=attention)
        model = seq2seq.Seq2Seq.from_config(config, task.src_vocab, task.tgt_vocab)
        start = time.perf_counter()
        losses: list[float] = []

        def report(event: ProgressEvent, name: str = name, losses: list[float] = losses) -> None:
            if event.kind != "step":
                return
            losses.append(event.loss)
            if event.step % max(1, args.steps // 5) == 0:
                print(f"  {name}: step {event.step:5d}  loss {event.loss:.4f}", flush=True)

        run = TrainConfig(
            task="reverse",
            task_options=options,
            model=f"gru:attention={attention or 'none'}",  # labels the run; the model is the one above
            hidden_size=args.hidden,
            epochs=math.ceil(args.steps * 64 / args.train_size),  # the passes that hold --steps batches
            batch_size=64,
            lr=3e-3,
            schedule="constant",
            seed=args.seed,
        )
        train(run, model=model, progress=report, max_steps=args.steps)
        seconds = time.perf_counter() - start
        row = []
        for low in buckets:
            pairs = [p for p in task.test if low <= len(p[0]) < low + args.bucket]
            row.append(translation_scores(model, pairs)["exact_match"] if pairs else float("nan"))
        results[name] = row
        print(f"{name}: {args.steps} steps in {seconds:.0f} s, final loss {losses[-1]:.4f}", flush=True)
    width = max(len(n) for n in results)
    header = " ".join(f"{low}-{min(low + args.bucket - 1, args.max_length):>2}" for low in buckets)
    print(f"\nexact match by source length (held-out, greedy)\n{'':{width}}  {header}")
    for name, row in results.items():
        print(f"{name:{width}}  " + " ".join(f"{value:5.0%}" for value in row))
    return results


if __name__ == "__main__":
    main()
