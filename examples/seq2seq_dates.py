"""Date normalisation with an attentional encoder-decoder: "Mar 12, 2021" -> "2021-03-12".

Trains, with the lab's ``train``, on the generated ``dates`` task of
:mod:`rnnx.lab.tasks.translation` (nine source formats, years 1950-2049, slashes month first,
dots day first) and reports exact match and token accuracy on the held-out test split, decoded
free-running (greedy and beam search).

    python examples/seq2seq_dates.py                 # the documented run
    python examples/seq2seq_dates.py --steps 20      # a quick check that it runs
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


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--train-size", type=int, default=20_000)
    parser.add_argument("--test-size", type=int, default=2_000)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--cell", default="gru", choices=["rnn", "gru", "lstm"])
    parser.add_argument("--attention", default="general", choices=["dot", "general", "additive"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="folder to save the trained model to")
    args = parser.parse_args(argv)

    options = {"seed": args.seed, "train_size": args.train_size, "valid_size": 500, "test_size": args.test_size}
    task = get_task("dates", **options).info["pairs"]
    torch.manual_seed(args.seed)
    config = seq2seq.Seq2SeqConfig(
        cell=args.cell,
        embedding_dim=32,
        hidden_size=args.hidden,
        bidirectional=True,
        attention=args.attention,
        bridge="linear",
    )
    model = seq2seq.Seq2Seq.from_config(config, task.src_vocab, task.tgt_vocab)
    print(f"dates: {len(task.train)} train / {len(task.test)} test pairs, e.g. {task.train[0]}")
    print(f"model: {sum(p.numel() for p in model.parameters())} parameters, {args.cell}, {args.attention} attention")

    def report(event: ProgressEvent) -> None:
        if event.kind == "step" and event.step % max(1, args.steps // 10) == 0:
            print(f"  step {event.step:5d}  loss {event.loss:.4f}", flush=True)

    run = TrainConfig(
        task="dates",
        task_options=options,
        model=f"{args.cell}:attention={args.attention},bidirectional,bridge=linear",  # labels the run
        hidden_size=args.hidden,
        epochs=math.ceil(args.steps * 64 / args.train_size),  # the passes that hold --steps batches
        batch_size=64,
        lr=3e-3,
        schedule="constant",
        seed=args.seed,
    )
    start = time.perf_counter()
    train(run, model=model, progress=report, max_steps=args.steps)
    seconds = time.perf_counter() - start
    greedy = translation_scores(model, task.test)
    beam = translation_scores(model, task.test, strategy="beam", beam_size=5)
    print(f"trained {args.steps} steps in {seconds:.0f} s")
    print(f"test exact match: greedy {greedy['exact_match']:.2%}, beam(5) {beam['exact_match']:.2%}")
    print(f"test token accuracy: greedy {greedy['token_accuracy']:.2%}, beam(5) {beam['token_accuracy']:.2%}")
    samples = ["12 March 2021", "03/12/21", "Mar 12, 2021", "Friday, March 12, 2021", "29.02.1952"]
    for source, output in zip(samples, seq2seq.translate(model, samples), strict=True):
        print(f"  {source!r:28} -> {''.join(output)!r}")
    if args.save:
        print(f"saved to {seq2seq.save(model, args.save)}")
    return {"greedy": greedy["exact_match"], "beam": beam["exact_match"], "seconds": seconds}


if __name__ == "__main__":
    main()
