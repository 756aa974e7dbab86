"""Cost of the ``SpectrumSummary`` callback relative to a training epoch, on CiteULike.

Trains a zoo entry (default DirectSpec+ MF, the authors' recipe: batch 256, 648 steps per
epoch) for ``--epochs`` epochs with the callback firing after *every* epoch, then reports:

- ``epoch_seconds_median``: median wall time of the training steps of an epoch (the
  trainer's ``EpochTimer``, which excludes the callbacks);
- ``callback_seconds_median``: median wall time of one callback firing (statistics, the
  TensorBoard scalars, histogram and PNG image), the first firing excluded (it imports
  matplotlib and builds its font cache);
- ``compute_seconds_median`` / ``image_seconds_median``: the statistics alone and the
  figure alone, timed again after training (``--repeats`` calls each);
- ``overhead_at_default``: ``callback / (every · epoch)`` with ``every`` = the default
  period of ``tfdirectspec train`` (the evaluation period, 10), the number the issue
  bounds by 5 %; ``overhead_every_epoch``: the same with ``every = 1``.

The machine (CPU model, cores, load average before and after) and the command go in the
JSON printed on stdout; on a shared machine the load average says how far to trust it.

    PYTHONPATH=. python pipelines/benchmarks/bench_spectrum_callback.py --epochs 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time

from _machine import cpu_model


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", default="directspec+", help="zoo loss (CiteULike, MF)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs (callback after each)")
    parser.add_argument("--repeats", type=int, default=5, help="post-training timing calls")
    parser.add_argument("--every", type=int, default=10, help="default period to report")
    args = parser.parse_args(argv)
    if args.epochs < 3:
        parser.error("--epochs must be at least 3 (the first firing is a warm-up)")

    from tfdirectspec.diagnostics import SpectrumSummary
    from tfdirectspec.diagnostics.plots import figure_png, spectrum_figure
    from tfdirectspec.training import TrainConfig, load_data, train, zoo_defaults

    load_before = os.getloadavg()
    config = TrainConfig().updated(zoo_defaults("citeulike", "mf", args.loss), "zoo")
    config = config.updated({"epochs": args.epochs, "eval_every": args.epochs}, "bench")
    data = load_data(config)
    with tempfile.TemporaryDirectory() as logdir:
        callback = SpectrumSummary(logdir, every=1, train=data.train)
        result = train(config, data=data, callbacks=[callback], verbose=0)
        epoch_seconds = result.metrics["seconds_per_epoch_median"]
        callback_seconds = statistics.median(callback.seconds[1:])

        compute, image = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            stats = callback.compute()
            compute.append(time.perf_counter() - start)
            start = time.perf_counter()
            figure = spectrum_figure(
                {"users": stats.sigma_user, "items": stats.sigma_item}, figsize=(5.0, 3.5)
            )
            figure_png(figure, dpi=80)
            image.append(time.perf_counter() - start)

    record = {
        "benchmark": "SpectrumSummary callback vs one training epoch",
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
        },
        "config": {
            "dataset": "citeulike",
            "tower": "mf",
            "loss": config.loss,
            "batch_size": config.batch_size,
            "steps_per_epoch": result.metrics["steps_per_epoch"],
            "epochs": args.epochs,
        },
        "epoch_seconds_median": round(epoch_seconds, 4),
        "epoch_seconds_mean": round(result.metrics["seconds_per_epoch"], 4),
        "callback_firings": len(callback.seconds),
        "callback_seconds_median": round(callback_seconds, 4),
        "callback_seconds": [round(s, 4) for s in callback.seconds],
        "compute_seconds_median": round(statistics.median(compute), 4),
        "image_seconds_median": round(statistics.median(image), 4),
        "default_every": args.every,
        "overhead_at_default": round(callback_seconds / (args.every * epoch_seconds), 4),
        "overhead_every_epoch": round(callback_seconds / epoch_seconds, 4),
    }
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
