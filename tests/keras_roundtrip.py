"""Shared round-trip checks for everything that a ``.keras`` file carries.

:func:`assert_round_trip` takes a loss, a tower or a :class:`RetrievalModel` and checks

1. the config round trip: ``type(obj).from_config(obj.get_config())`` gives the same
   config (and, with the original's weights, the same outputs), and Keras'
   ``serialize_keras_object``/``deserialize_keras_object`` finds the registered class;
2. the ``.keras`` round trip inside a tiny :class:`RetrievalModel` (a loss gets a small
   MF tower, a tower gets a positive-only loss): ``save`` then
   ``keras.saving.load_model(..., safe_mode=True)`` gives the same class, config,
   weights, tower outputs and loss value on a batch, bit for bit.

Usage: ``from keras_roundtrip import assert_round_trip`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfdirectspec.losses import PositiveOnlyLoss, RetrievalLoss
from tfdirectspec.models import RetrievalModel
from tfdirectspec.towers import MFTower
from tfdirectspec.towers.base import EmbeddingTower

#: Size of the MF tower that carries a loss into a model.
NUM_USERS, NUM_ITEMS, DIM = 9, 7, 4


def assert_round_trip(obj, tmp_path: Path) -> RetrievalModel:
    """Checks the config and ``.keras`` round trips of ``obj``; returns the reloaded model."""
    assert_config_round_trip(obj)
    model = tiny_model(obj)
    return assert_keras_file_round_trip(model, tmp_path / f"{type(obj).__name__}.keras")


def tiny_model(obj) -> RetrievalModel:
    """``obj`` inside a built :class:`RetrievalModel` (or ``obj`` itself if it is one)."""
    if isinstance(obj, RetrievalModel):
        model = obj
    elif isinstance(obj, RetrievalLoss):
        model = RetrievalModel(MFTower(NUM_USERS, NUM_ITEMS, DIM, seed=1), obj)
    elif isinstance(obj, EmbeddingTower):
        model = RetrievalModel(obj, PositiveOnlyLoss(shrink=0.1))
    else:
        raise TypeError(f"no round trip for {type(obj).__name__}")
    model.build_for_ids()
    return model


def batch_for(model: RetrievalModel, size: int = 8) -> dict[str, tf.Tensor]:
    """A deterministic batch of ids (plus any features the loss requires) for ``model``."""
    loss, tower = model.retrieval_loss, model.tower
    size = max(size, getattr(loss, "group_size", 0))
    rows = np.arange(size)
    batch = {
        "user": tf.constant(rows % tower.num_users, tf.int64),
        "item": tf.constant((3 * rows + 1) % tower.num_items, tf.int64),
    }
    if "negative" in loss.required_features:
        batch["negative"] = tf.constant((5 * rows + 2) % tower.num_items, tf.int64)
    for key in ("user_shared", "item_shared"):
        if key in loss.required_features:
            # Rows share an interaction when their ids have the same parity (and the diagonal).
            shared = (rows[:, None] % 2) == (rows[None, :] % 2)
            batch[key] = tf.constant(shared.astype(np.uint8))
    return batch


def model_loss(model: RetrievalModel, batch: dict[str, tf.Tensor]) -> np.ndarray:
    """The model's training loss on ``batch`` (its ``compute_loss``)."""
    return model.compute_loss(x=batch, y_pred=model(batch)).numpy()


def assert_same_model(a: RetrievalModel, b: RetrievalModel, batch=None) -> None:
    """Same class, config, weights, outputs, tables and loss value, exactly."""
    batch = batch_for(a) if batch is None else batch
    assert type(b) is type(a)
    assert type(b.tower) is type(a.tower)
    assert type(b.retrieval_loss) is type(a.retrieval_loss)
    assert b.tower.get_config() == a.tower.get_config()
    assert b.retrieval_loss.get_config() == a.retrieval_loss.get_config()
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    out_a, out_b = a(batch), b(batch)
    assert sorted(out_a) == sorted(out_b)
    for key in out_a:
        np.testing.assert_array_equal(out_a[key].numpy(), out_b[key].numpy(), err_msg=key)
    for x, y in zip(a.tables(), b.tables(), strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    value = model_loss(a, batch)
    assert np.isfinite(value)
    np.testing.assert_array_equal(model_loss(b, batch), value)


def assert_keras_file_round_trip(model: RetrievalModel, path: Path) -> RetrievalModel:
    """``model.save(path)`` then ``load_model(path, safe_mode=True)`` is the same model."""
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert_same_model(model, restored)
    return restored


def assert_config_round_trip(obj) -> None:
    """``from_config(get_config())`` and Keras (de)serialisation give an equal object."""
    config = obj.get_config()
    clone = type(obj).from_config(config)
    assert type(clone) is type(obj)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
    assert type(restored) is type(obj)
    assert restored.get_config() == config
    if isinstance(obj, RetrievalLoss):
        # Same hyper-parameters, same value on the same rows.
        model = tiny_model(obj)
        batch = batch_for(model)
        outputs = {**batch, **model(batch)}
        labels = tf.ones_like(batch["user"], tf.float32)
        np.testing.assert_array_equal(clone(labels, outputs).numpy(), obj(labels, outputs).numpy())
        return
    # A config holds no weights (and LightGCN's graph is data): copy them over.
    clone.set_weights(obj.get_weights())
    if isinstance(obj, EmbeddingTower):
        loss = PositiveOnlyLoss(shrink=0.1)
        obj, clone = RetrievalModel(obj, loss), RetrievalModel(clone, loss)
    assert_same_model(obj, clone)
