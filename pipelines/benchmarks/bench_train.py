"""Benchmark: seconds per training epoch of a zoo entry, and of its sampler and evaluation.

By default DirectSpec+ MF on CiteULike at the authors' settings: one epoch is
⌊166,025 / 256⌋ = 648 steps of batch 256 (SGD lr 180, α 1, τ 3, s 0.03).
``--entry NAME`` times any zoo entry instead (e.g. ``gowalla-lightgcn-bpr``,
with ``TFDIRECTSPEC_DATA`` pointing at the data). Training steps only, plus
the time of one full-ranking evaluation of all test users over all items.
Reports the median of several runs after a warm-up epoch (which includes
tracing), the machine and the command, as one JSON object.

Run::

    python pipelines/benchmarks/bench_train.py --epochs 6 --repeats 3 --out bench_train.json
    python pipelines/benchmarks/bench_train.py --entry gowalla-lightgcn-bpr --epochs 3 \\
        --eval-repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import keras

import tfdirectspec as tfd
from _machine import cpu_model
from tfdirectspec.training import EpochTimer, TrainConfig, build_model, sampler_for
from tfdirectspec.training.config import read_config_file
from tfdirectspec.training.trainer import load_data
from tfdirectspec.training.zoo import find_entry


def machine() -> dict:
    import tensorflow as tf

    return {
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="seconds per training epoch of a zoo entry")
    parser.add_argument("--entry", help="zoo entry to time (default: DirectSpec+ MF, CiteULike)")
    parser.add_argument("--epochs", type=int, default=6, help="timed epochs per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs (fresh model each)")
    parser.add_argument("--eval-repeats", type=int, default=6, help="timed evaluations")
    parser.add_argument("--loss", default="directspec+", help="loss, without --entry")
    parser.add_argument("--steps-per-execution", type=int, default=32)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    if args.entry:
        path = find_entry(args.entry)
        if path is None:
            parser.error(f"--entry: no zoo entry named {args.entry!r}")
        config = TrainConfig().updated(read_config_file(path), str(path))
        config.steps_per_execution = args.steps_per_execution
        benchmark = f"{args.entry} epoch"
    else:
        config = TrainConfig(loss=args.loss, steps_per_execution=args.steps_per_execution)
        benchmark = "DirectSpec+ MF CiteULike epoch"
    config.validate()
    data = load_data(config)
    epoch_seconds: list[float] = []
    for repeat in range(args.repeats):
        config.seed = repeat
        sampler = sampler_for(config, data)
        model = build_model(config, data, sampler.steps_per_epoch)
        timer = EpochTimer()
        model.fit(
            sampler.stream(),
            epochs=args.epochs + 1,
            steps_per_epoch=sampler.steps_per_epoch,
            callbacks=[timer],
            verbose=0,
            shuffle=False,
        )
        epoch_seconds += timer.seconds[1:]  # the first epoch traces the step

    # Input alone: how fast the tf.data sampler produces the same batches. The
    # step never waits for input when this is well above the training rate.
    dataset = iter(sampler.stream())
    next(dataset)
    start = time.perf_counter()
    for _ in range(sampler.steps_per_epoch):
        next(dataset)
    sampler_seconds = time.perf_counter() - start

    users, items = model.tables()
    eval_seconds = []
    for _ in range(args.eval_repeats + 1):
        start = time.perf_counter()
        tfd.full_ranking_metrics(users, items, data.test, exclude=data.train)
        eval_seconds.append(time.perf_counter() - start)

    result = {
        "benchmark": benchmark,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "machine": machine(),
        "steps_per_epoch": sampler.steps_per_epoch,
        "batch_size": config.batch_size,
        "seconds_per_epoch_median": statistics.median(epoch_seconds),
        "seconds_per_epoch_all": epoch_seconds,
        "sampler_seconds_per_epoch": sampler_seconds,
        "sampler_batches_per_second": sampler.steps_per_epoch / sampler_seconds,
        "training_steps_per_second": sampler.steps_per_epoch / statistics.median(epoch_seconds),
        "full_ranking_eval_seconds_median": statistics.median(eval_seconds[1:]),
        "full_ranking_eval_seconds_all": eval_seconds,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
