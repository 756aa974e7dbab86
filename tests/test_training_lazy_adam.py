"""LazyAdam: Adam's formulas on the batch's rows only, and a Keras round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.training.lazy_adam import LazyAdam
from tfdirectspec.training.optimizers import make_optimizer


def _sparse(values: np.ndarray, rows: list[int], num_rows: int) -> tf.IndexedSlices:
    return tf.IndexedSlices(
        tf.constant(values, tf.float32), tf.constant(rows), tf.constant([num_rows, values.shape[1]])
    )


def test_equals_keras_adam_on_the_same_sparse_gradient_with_duplicates():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(5, 3)).astype(np.float32)
    dense, lazy = keras.Variable(start.copy()), keras.Variable(start.copy())
    dense_opt, lazy_opt = keras.optimizers.Adam(0.05), LazyAdam(0.05)
    for _ in range(6):
        # Row 2's gradient arrives in two parts, as a row drawn twice in a batch.
        parts = rng.normal(size=(6, 3)).astype(np.float32)
        grad = _sparse(parts, [0, 1, 2, 3, 4, 2], 5)
        dense_opt.apply_gradients([(grad, dense)])
        lazy_opt.apply_gradients([(grad, lazy)])
    # Element-wise float32 arithmetic only (no BLAS): each of the 6 steps moves a weight by
    # at most lr = 0.05, rounded to a few u (6e-8) of it, so the paths agree to ~1e-7.
    np.testing.assert_allclose(lazy.numpy(), dense.numpy(), rtol=1e-5, atol=1e-6)


def _dense_and_lazy_runs(
    catch_up_each_step: bool, first_step: int, catch_up: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Dense Adam and LazyAdam on the same sparse gradients from step ``first_step``."""
    rng = np.random.default_rng(3)
    start = rng.normal(size=(40, 4)).astype(np.float32)
    dense, lazy = keras.Variable(start.copy()), keras.Variable(start.copy())
    dense_opt, lazy_opt = keras.optimizers.Adam(0.01), LazyAdam(0.01, catch_up=catch_up)
    dense_opt.build([dense])
    lazy_opt.build([lazy])
    # From step 0 the bias correction changes α over the missed steps; later it is flat.
    dense_opt.iterations.assign(first_step)
    lazy_opt.iterations.assign(first_step)
    for step in range(60):
        rows = rng.choice(40, size=6).tolist()  # duplicates too, as in a batch
        values = rng.normal(size=(6, 4)).astype(np.float32)
        dense_opt.apply_gradients([(_sparse(values, rows, 40), dense)])
        lazy_opt.apply_gradients([(_sparse(values, rows, 40), lazy)])
        if catch_up_each_step or step == 59:
            lazy_opt.catch_up()
    return dense.numpy(), lazy.numpy()


@pytest.mark.slow
@pytest.mark.parametrize("first_step", [0, 20_000])
@pytest.mark.parametrize("catch_up_each_step", [False, True])
def test_catch_up_follows_dense_adam_on_sparse_gradients(catch_up_each_step, first_step):
    dense, lazy = _dense_and_lazy_runs(catch_up_each_step, first_step)
    # The classic lazy semantics land elsewhere (the test can tell them apart) ...
    _, classic = _dense_and_lazy_runs(catch_up_each_step, first_step, catch_up=False)
    assert np.abs(classic - dense).max() > 0.05
    # ... and LazyAdam with catch-up lands where dense Adam does.
    # Element-wise float32 only: 60 steps of at most lr = 0.01 each, every step rounded to a
    # few u of it in either path, and the closed-form sum of the missed steps (a geometric
    # series in float32, ≤ 64 terms) adds ≤ 64 u relative: |Δ| stays near 1e-6 ≪ atol.
    np.testing.assert_allclose(lazy, dense, rtol=1e-4, atol=1e-5)


def test_catch_up_is_idempotent_and_leaves_up_to_date_rows_alone():
    table = keras.Variable(np.ones((6, 2), np.float32))
    opt = LazyAdam(0.1)
    opt.apply_gradients([(_sparse(np.ones((1, 2), np.float32), [4], 6), table)])
    opt.apply_gradients([(_sparse(np.ones((1, 2), np.float32), [1], 6), table)])
    opt.catch_up()
    once = table.numpy().copy()
    assert once[4, 0] < 0.9  # row 4 kept moving on its momentum during step 2
    assert np.all(once[[0, 2, 3, 5]] == 1.0)  # rows never drawn have no momentum
    opt.catch_up()
    np.testing.assert_array_equal(table.numpy(), once)


def test_classic_lazy_rows_outside_the_batch_keep_weights_and_moments():
    table = keras.Variable(np.ones((6, 2), np.float32))
    opt = LazyAdam(0.1, catch_up=False)
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
    assert restored.get_config()["catch_up"] is True
    assert LazyAdam.from_config(LazyAdam(catch_up=False).get_config()).catch_up_moves is False
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


def _mf_tables_after_fit(optimizer: keras.optimizers.Optimizer) -> np.ndarray:
    from tfdirectspec.data import InteractionSampler
    from tfdirectspec.losses import DirectSpecPlusLoss
    from tfdirectspec.models import RetrievalModel
    from tfdirectspec.towers import MFTower
    from tfdirectspec.training.lazy_adam import LazyAdamCatchUp

    rng = np.random.default_rng(0)
    train = (rng.random((60, 40)) < 0.1).astype(np.float32)
    sampler = InteractionSampler(sp.csr_matrix(train), batch_size=16, seed=0)
    model = RetrievalModel(MFTower(60, 40, embedding_dim=8, seed=0), DirectSpecPlusLoss())
    model.build_for_ids()
    model.compile(optimizer=optimizer, steps_per_execution=5)
    model.fit(
        sampler.stream(), steps_per_epoch=20, epochs=3, verbose=0, callbacks=[LazyAdamCatchUp()]
    )
    return np.concatenate([t.numpy() for t in model.tables()])


@pytest.mark.slow
def test_mf_training_follows_keras_adam():
    """Through model.fit: batch rows brought up to date before each step, all rows at epoch end."""
    dense = _mf_tables_after_fit(keras.optimizers.Adam(0.01))
    lazy = _mf_tables_after_fit(LazyAdam(0.01))
    classic = _mf_tables_after_fit(LazyAdam(0.01, catch_up=False))
    start = _mf_tables_after_fit(keras.optimizers.SGD(0.0))
    moved = np.linalg.norm(dense - start)
    assert np.linalg.norm(classic - dense) > 0.1 * moved
    # ε is taken outside the decay over missed steps: agreement to float-level noise.
    assert np.linalg.norm(lazy - dense) < 1e-3 * moved
