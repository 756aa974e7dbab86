"""LazyAdam against Keras' dense Adam: step time, distance of the tables, and quality.

On a data folder (e.g. one written by ``tfdirectspec synthesize``), this trains MF
with the DirectSpec+ default recipe from the same initialisation and batch stream
with three optimisers:

* ``adam``: Keras' Adam (every row updated at every step: O((users + items)·d) a step);
* ``lazy-adam``: :class:`~tfdirectspec.training.LazyAdam` with catch-up (O(B·d) a step,
  dense Adam's trajectory);
* ``lazy-adam-classic``: ``LazyAdam(catch_up=False)``, the classic lazy semantics.

It reports each one's milliseconds per step (median of the epochs), the relative
distance ``‖W − W_adam‖ / ‖W_adam‖`` of its tables to dense Adam's after the first
``--probe-steps`` steps, and the validation and test NDCG@20 after each epoch (a 10 %
validation split of train, as the recipe's runs use; the test split read for the
comparison only). With ``--update-rows N`` it also times one update of an N-row table
from a batch's sparse gradient with Keras' Adam and with LazyAdam.

Run from the repository root::

    tfdirectspec synthesize --pairs 1000000 --output /tmp/synth1m
    python pipelines/benchmarks/bench_lazy_adam.py /tmp/synth1m --epochs 2 \\
        --out docs/benchmarks/lazy_adam.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

OPTIMIZERS = ("adam", "lazy-adam", "lazy-adam-classic")


def _model(config, data, steps: int, optimizer: str):
    import keras

    from tfdirectspec.training import trainer
    from tfdirectspec.training.lazy_adam import LazyAdam

    keras.utils.set_random_seed(config.seed)
    model = trainer.build_model(config, data, steps)
    if optimizer != "adam":
        # Same schedule, other class: recompile before the first step builds any slot.
        lazy = LazyAdam(learning_rate=config.lr, catch_up=optimizer == "lazy-adam")
        model.compile(optimizer=lazy, steps_per_execution=model.steps_per_execution)
    return model


def _tables(model) -> np.ndarray:
    from tfdirectspec.training.lazy_adam import LazyAdam

    if isinstance(model.optimizer, LazyAdam):
        model.optimizer.catch_up()
    return np.concatenate([t.numpy() for t in model.tables()])


def run(folder: Path, epochs: int, probe_steps: int, seed: int) -> dict[str, Any]:
    import keras

    from tfdirectspec.data.datasets import load_data_dir
    from tfdirectspec.evaluation.ranking import full_ranking_metrics
    from tfdirectspec.training import trainer
    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.recipes import recipe_config

    data = load_data_dir(folder).with_validation(0.1, seed)
    key = TrainConfig(dataset=None, data_dir=str(folder), loss="directspec+", seed=seed)
    config = recipe_config(key, data, [({"optimizer": "adam", "lr_decay": 1.0}, "bench")])
    sampler = trainer.sampler_for(config, data)
    steps = sampler.steps_per_epoch
    report: dict[str, Any] = {"data": data.summary(), "steps_per_epoch": steps}
    reference = None
    for name in OPTIMIZERS:
        model = _model(config, data, steps, name)
        stream = sampler.stream()
        model.fit(stream, epochs=1, steps_per_epoch=probe_steps, verbose=0)
        probe = _tables(model)
        if reference is None:
            reference = probe
        row: dict[str, Any] = {
            "distance_to_adam": float(
                np.linalg.norm(probe - reference) / np.linalg.norm(reference)
            ),
            "ms_per_step": [],
            "epochs": [],
        }
        # The rest of the first epoch, then whole epochs, on the same stream.
        remaining = [steps - probe_steps] + [steps] * (epochs - 1)
        for epoch, count in enumerate(remaining, start=1):
            started = time.perf_counter()
            model.fit(stream, epochs=1, steps_per_epoch=count, verbose=0)
            _tables(model)  # brings LazyAdam's rows up to date, counted in the step time
            row["ms_per_step"].append(1000 * (time.perf_counter() - started) / count)
            users, items = (t.numpy() for t in model.tables())
            valid = full_ranking_metrics(users, items, data.valid, exclude=data.train, ks=(20,))
            test = full_ranking_metrics(
                users, items, data.test, exclude=data.exclusions(), ks=(20,)
            )
            row["epochs"].append(
                {"epoch": epoch, "valid_ndcg@20": valid["ndcg@20"], "test_ndcg@20": test["ndcg@20"]}
            )
            print(name, row["epochs"][-1], f"{row['ms_per_step'][-1]:.2f} ms/step", flush=True)
        row["ms_per_step_median"] = statistics.median(row["ms_per_step"])
        report[name] = row
        keras.backend.clear_session()
    return report


def _update_function(optimizer, table):
    import tensorflow as tf

    @tf.function
    def update(grad):
        optimizer.apply_gradients([(grad, table)])
        return optimizer.iterations.value  # fetching it waits for the update

    return update


def update_ms(rows: int, dim: int = 64, batch: int = 256, repeats: int = 20) -> dict[str, float]:
    """Median milliseconds of one optimiser update of a ``rows × dim`` table from a batch's
    sparse gradient (``batch`` rows), for Keras' Adam and for LazyAdam."""
    import keras
    import tensorflow as tf

    from tfdirectspec.training.lazy_adam import LazyAdam

    rng = np.random.default_rng(0)
    out = {}
    for name, optimizer in (("adam", keras.optimizers.Adam(0.01)), ("lazy-adam", LazyAdam(0.01))):
        table = keras.Variable(rng.normal(size=(rows, dim)).astype(np.float32))
        optimizer.build([table])
        update = _update_function(optimizer, table)
        times = []
        for step in range(repeats + 2):
            ids = tf.constant(rng.integers(0, rows, batch))
            grad = tf.IndexedSlices(tf.random.normal((batch, dim)), ids, tf.constant([rows, dim]))
            started = time.perf_counter()
            update(grad).numpy()
            if step >= 2:  # the first calls trace
                times.append(time.perf_counter() - started)
        out[name] = 1000 * statistics.median(times)
        del table, optimizer
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="a data folder (train.* and test.*)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--probe-steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--update-rows",
        type=int,
        nargs="*",
        default=[],
        help="also time one update of a table of this many rows (e.g. 2000000)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from tfdirectspec import quiet_tensorflow_startup

    quiet_tensorflow_startup()  # no CPU-probe lines on stderr (a no-op once TF is loaded)

    report = {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        **run(args.folder, args.epochs, args.probe_steps, args.seed),
        "update_ms": {str(rows): update_ms(rows) for rows in args.update_rows},
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k in OPTIMIZERS}, indent=1))
    return report


if __name__ == "__main__":
    main()
