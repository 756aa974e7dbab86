"""LazyAdam: Adam's formulas on the batch's rows only, and a Keras round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdirectspec.training.lazy_adam import LazyAdam
from tfdirectspec.training.optimizers import make_optimizer


def _sparse(values: np.ndarray, rows: list[int], num_rows: int) -> tf.IndexedSlices:
    return tf.IndexedSlices(
        tf.constant(values, tf.float32), tf.constant(rows), tf.constant([num_rows, values.shape[1]])
    )


def test_equals_dense_adam_when_every_row_is_touched_duplicates_summed():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(5, 3)).astype(np.float32)
    dense, lazy = keras.Variable(start.copy()), keras.Variable(start.copy())
    dense_opt, lazy_opt = keras.optimizers.Adam(0.05), LazyAdam(0.05)
    for _ in range(6):
        grad = rng.normal(size=(5, 3)).astype(np.float32)
        # Row 2's gradient arrives in two parts, as a row drawn twice in a batch.
        parts = np.concatenate([grad, 0.25 * grad[2:3]])
        parts[2] *= 0.75
        dense_opt.apply_gradients([(tf.constant(grad), dense)])
        lazy_opt.apply_gradients([(_sparse(parts, [0, 1, 2, 3, 4, 2], 5), lazy)])
    np.testing.assert_allclose(lazy.numpy(), dense.numpy(), rtol=1e-5, atol=1e-6)


def test_rows_outside_the_batch_keep_weights_and_moments():
    table = keras.Variable(np.ones((6, 2), np.float32))
    opt = LazyAdam(0.1)
    opt.apply_gradients([(_sparse(np.ones((1, 2), np.float32), [4], 6), table)])
    opt.apply_gradients([(_sparse(np.ones((1, 2), np.float32), [1], 6), table)])
    moved = np.flatnonzero(np.any(table.numpy() != 1.0, axis=1)).tolist()
    assert moved == [1, 4]
    # Row 4's first step is lr; it does not move again while it is out of the batch.
    np.testing.assert_allclose(table.numpy()[4], [0.9, 0.9], rtol=1e-6)
    momentum = opt._momentums[0].numpy()
    assert np.count_nonzero(np.any(momentum != 0, axis=1)) == 2


def test_dense_gradients_get_keras_adam():
    rng = np.random.default_rng(1)
    start = rng.normal(size=(4, 2)).astype(np.float32)
    a, b = keras.Variable(start.copy()), keras.Variable(start.copy())
    opt_a, opt_b = keras.optimizers.Adam(0.01), LazyAdam(0.01)
    for _ in range(3):
        grad = tf.constant(rng.normal(size=(4, 2)).astype(np.float32))
        opt_a.apply_gradients([(grad, a)])
        opt_b.apply_gradients([(grad, b)])
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_config_round_trip_and_registered():
    opt = make_optimizer("lazy-adam", 0.02, steps_per_epoch=10, lr_decay=0.9)
    assert isinstance(opt, LazyAdam)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(restored, LazyAdam)
    assert restored.get_config() == opt.get_config()
    with pytest.raises(ValueError, match="amsgrad"):
        LazyAdam(amsgrad=True)


def test_keras_file_round_trip_keeps_the_optimizer(tmp_path):
    from keras_roundtrip import tiny_model

    from tfdirectspec.losses import DirectSpecPlusLoss

    model = tiny_model(DirectSpecPlusLoss())
    model.compile(optimizer=LazyAdam(0.01))
    batch = {"user": tf.constant([0, 1, 2]), "item": tf.constant([3, 4, 5])}
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(3), epochs=1, verbose=0)
    path = tmp_path / "lazy.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored.optimizer, LazyAdam)
    assert int(restored.optimizer.iterations) == 3
    for got, want in zip(restored.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
