"""Test set-up: TensorFlow backend, quiet logs, two logical CPUs for strategy tests."""

import os

# The library sets nothing in the process (tests/test_backend_import_side_effects.py); the test
# process is ours, so it picks Keras' backend and TensorFlow's log level, before either loads.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

# MirroredStrategy tests need two devices; logical devices must be configured
# before TensorFlow initialises its runtime, i.e. before any test runs.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A tiny `user<TAB>item` dataset: 40 users, 50 items, 6 train and 2 test items each."""
    folder = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    train, test = [], []
    for user in range(40):
        items = rng.choice(50, 8, replace=False)
        train += [(user, i) for i in items[:6]]
        test += [(user, i) for i in items[6:]]
    (folder / "train.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in train))
    (folder / "test.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in test))
    return folder


@pytest.fixture
def tiny_config(data_dir):
    """A factory of small, fast ``TrainConfig``s on ``data_dir`` (keyword overrides)."""
    from tfdirectspec.training.config import TrainConfig

    def make(**overrides):
        values = dict(
            dataset=None,
            data_dir=str(data_dir),
            epochs=2,
            batch_size=16,
            dim=8,
            lr=2.0,
            shrink=0.3,
            eval_every=2,
            steps_per_execution=3,
            ks=(5,),
        )
        return TrainConfig(**{**values, **overrides})

    return make
