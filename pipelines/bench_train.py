"""Benchmark: seconds per epoch of DirectSpec+ MF on CiteULike at the authors' settings.

One epoch is ⌊166,025 / 256⌋ = 648 steps of batch 256 (SGD lr 180, α 1, τ 3,
s 0.03), training steps only; plus the time of one full-ranking evaluation
of all 5,551 users over 16,980 items. Reports the median of several runs
after a warm-up epoch (which includes tracing), the machine and the command,
as one JSON object.

Run: ``python pipelines/bench_train.py --epochs 6 --repeats 3 --out bench_train.json``
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
from tfdirectspec.machine import cpu_model
from tfdirectspec.training import EpochTimer, TrainConfig, build_model, sampler_for


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
    parser = argparse.ArgumentParser(description="seconds per epoch of DirectSpec+ MF")
    parser.add_argument("--epochs", type=int, default=6, help="timed epochs per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs (fresh model each)")
    parser.add_argument("--loss", default="directspec+")
    parser.add_argument("--steps-per-execution", type=int, default=32)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    data = tfd.load_dataset("citeulike")
    config = TrainConfig(loss=args.loss, steps_per_execution=args.steps_per_execution)
    epoch_seconds: list[float] = []
    for repeat in range(args.repeats):
        config.seed = repeat
        sampler = sampler_for(config, data)
        model = build_model(config, data, sampler.steps_per_epoch)
        timer = EpochTimer()
        model.fit(
            sampler.dataset(),
            epochs=args.epochs + 1,
            steps_per_epoch=sampler.steps_per_epoch,
            callbacks=[timer],
            verbose=0,
        )
        epoch_seconds += timer.seconds[1:]  # the first epoch traces the step

    # Input alone: how fast the tf.data sampler produces the same batches. The
    # step never waits for input when this is well above the training rate.
    dataset = iter(sampler.dataset())
    next(dataset)
    start = time.perf_counter()
    for _ in range(sampler.steps_per_epoch):
        next(dataset)
    sampler_seconds = time.perf_counter() - start

    users, items = model.tables()
    eval_seconds = []
    for _ in range(6):
        start = time.perf_counter()
        tfd.full_ranking_metrics(users, items, data.test, exclude=data.train)
        eval_seconds.append(time.perf_counter() - start)

    result = {
        "benchmark": "DirectSpec+ MF CiteULike epoch",
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
