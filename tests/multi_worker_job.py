"""A worker program for tests/test_distributed_multi_worker.py: ``python multi_worker_job.py MODE``.

Each process reads its ``TF_CONFIG`` (set by the test) and joins a
``MultiWorkerMirroredStrategy`` cluster. Modes:

* ``train CONFIGS.json OUT.npz`` — trains each config of the JSON list with
  :func:`tfdirectspec.training.train` under the cluster; the chief writes every
  run's final tables and per-epoch losses to ``OUT.npz``.
* ``keras OUT.json`` — fits a plain Keras model twice, showing the two Keras 3
  behaviours that :class:`~tfdirectspec.models.RetrievalModel` works around; the
  chief writes the error each fit raised (or "ok") to ``OUT.json``.
"""

from __future__ import annotations

import json
import sys

import keras
import numpy as np
import tensorflow as tf

from tfdirectspec.distributed import ClusterSpec, make_strategy


def train_mode(configs_file: str, out: str) -> None:
    from tfdirectspec.training import TrainConfig, train

    strategy = make_strategy("multi-worker", cluster_timeout=60)
    arrays = {}
    for i, values in enumerate(json.loads(open(configs_file).read())):
        config = TrainConfig().updated(values, "test")
        with strategy.scope():
            result = train(config, verbose=0)
        users, items = (np.asarray(t) for t in result.model.tables())
        arrays.update({f"{i}_users": users, f"{i}_items": items})
        arrays[f"{i}_loss"] = np.asarray(result.history.history["loss"])
    if ClusterSpec.from_env().is_chief:
        np.savez(out, **arrays)


class PlainModel(keras.Model):
    """A Dense model as a user would write it (no workaround)."""

    def __init__(self, skip_symbolic_build: bool = False) -> None:
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.skip_symbolic_build = skip_symbolic_build

    def call(self, x):
        return self.dense(x)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self.skip_symbolic_build:  # the first of the two workarounds only
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def keras_mode(out: str) -> None:
    strategy = make_strategy("multi-worker", cluster_timeout=60)

    def batches(context: tf.distribute.InputContext) -> tf.data.Dataset:
        x = np.ones((8, 3), np.float32)
        return tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(4).repeat()

    outcomes = {}
    for name, skip in (("symbolic_build", False), ("scalar_logs", True)):
        with strategy.scope():
            model = PlainModel(skip_symbolic_build=skip)
            model(tf.zeros([1, 3]))
            model.compile(optimizer="sgd", loss="mse")
            model.optimizer.build(model.trainable_variables)
        try:
            dataset = strategy.distribute_datasets_from_function(batches)
            model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)
            outcomes[name] = "ok"
        except ValueError as error:
            outcomes[name] = str(error)[:300]
    if ClusterSpec.from_env().is_chief:
        with open(out, "w") as f:
            json.dump(outcomes, f)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"train": train_mode, "keras": keras_mode}[mode](*args)
