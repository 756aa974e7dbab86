"""RetrievalModel: fit, MirroredStrategy equivalence, .keras round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
from keras_roundtrip import assert_round_trip

from tfdirectspec.data.samplers import InteractionSampler
from tfdirectspec.losses import (
    BPRLoss,
    DirectAULoss,
    DirectSpecLoss,
    DirectSpecPlusLoss,
    PositiveOnlyLoss,
    SampledSoftmaxLoss,
)
from tfdirectspec.models import RetrievalModel
from tfdirectspec.towers import MFTower

NUM_USERS, NUM_ITEMS = 60, 45


@pytest.fixture(scope="module")
def train():
    rng = np.random.default_rng(0)
    mask = rng.random((NUM_USERS, NUM_ITEMS)) < 0.12
    mask[np.arange(NUM_USERS), rng.integers(0, NUM_ITEMS, NUM_USERS)] = True
    return sp.csr_matrix(mask.astype(np.float32))


LOSSES = [
    DirectSpecPlusLoss(alpha=1.0, tau=3.0, shrink=0.3),
    DirectSpecPlusLoss(alpha=1.0, shrink=0.3, tau0=2.5, tau1=3.0),
    DirectSpecLoss(alpha=1.0, shrink=0.3),
    PositiveOnlyLoss(shrink=0.3),
    BPRLoss(reg=1e-2),
    DirectAULoss(gamma=1.0),
    SampledSoftmaxLoss(temperature=0.2),
]


def _fit(train, loss, strategy, steps=6, batch=16, lr=0.5, steps_per_execution=2):
    features = set(loss.required_features)
    sampler = InteractionSampler(
        train,
        batch,
        negatives="negative" in features,
        shared_masks="user_shared" in features,
        seed=3,
    )
    with strategy.scope():
        model = RetrievalModel(MFTower(NUM_USERS, NUM_ITEMS, 8, seed=5), loss)
        model.build_for_ids()
        model.compile(optimizer=keras.optimizers.SGD(lr), steps_per_execution=steps_per_execution)
    history = model.fit(sampler.stream(), epochs=3, steps_per_epoch=steps // 3, verbose=0)
    return model, history.history["loss"]


@pytest.fixture(scope="module")
def mirrored():
    # One strategy for the whole module: several MirroredStrategy objects in one
    # process reuse collective instance keys and abort each other's collectives.
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    assert len(devices) == 2, "conftest configures two logical CPUs"
    return tf.distribute.MirroredStrategy(devices)


@pytest.mark.slow
@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: repr(loss)[:60])
def test_mirrored_strategy_matches_single_device(train, loss, mirrored):
    single, single_loss = _fit(train, loss, tf.distribute.get_strategy())
    # Several steps per execution fail under MirroredStrategy in Keras 3.15 (see
    # trainer.build_model), so the mirrored run takes one step per execution.
    model, mirrored_loss = _fit(train, loss, mirrored, steps_per_execution=1)
    # Two replicas sum the batch in another order: each step's float32 loss and gradient
    # differ by ≤ γ_B·(sum of moduli) (B = batch rows, γ_B ≈ B·6e-8), a few 1e-6 here.
    np.testing.assert_allclose(mirrored_loss, single_loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(single.tables(), model.tables(), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    # The run really moved the weights (so equality is not trivial).
    fresh = MFTower(NUM_USERS, NUM_ITEMS, 8, seed=5)
    assert not np.allclose(fresh.tables()[0].numpy(), single.tables()[0].numpy())


def test_keras_round_trip_of_a_trained_model(train, tmp_path):
    model, _ = _fit(
        train, DirectSpecPlusLoss(alpha=1.0, tau=4.0, shrink=0.02), tf.distribute.get_strategy()
    )
    restored = assert_round_trip(model, tmp_path)
    # The optimizer state comes back too (training can go on from the file).
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations) > 0


def test_mf_gradients_are_sparse(train):
    tower = MFTower(NUM_USERS, NUM_ITEMS, 4, seed=0)
    with tf.GradientTape() as tape:
        out = tower({"user": tf.constant([1, 2]), "item": tf.constant([3, 4])})
        value = tf.reduce_sum(out["user"] * out["item"])
    grads = tape.gradient(value, tower.trainable_weights)
    assert all(isinstance(g, tf.IndexedSlices) for g in grads)


def test_mf_tower_seeded_and_round_trip(tmp_path):
    a = MFTower(10, 7, 4, seed=3)
    b = MFTower(10, 7, 4, seed=3)
    np.testing.assert_array_equal(a.tables()[0].numpy(), b.tables()[0].numpy())
    bound = np.sqrt(6 / (10 + 4))
    assert np.abs(a.tables()[0].numpy()).max() <= bound
    assert_round_trip(a, tmp_path)


def test_distributed_batches_give_each_local_replica_its_rows(train, mirrored):
    from tfdirectspec.distributed import distributed_batches

    # 17 rows over 2 replicas: 8 and 9, in replica order (the multi-replica pipeline branch).
    sampler = InteractionSampler(train, 17, seed=3)
    whole = next(iter(sampler.stream(start_step=2)))
    batch = next(iter(distributed_batches(sampler, mirrored, start_step=2)))
    for key in ("user", "item"):
        parts = [t.numpy() for t in mirrored.experimental_local_results(batch[key])]
        assert [len(p) for p in parts] == [8, 9]
        np.testing.assert_array_equal(np.concatenate(parts), whole[key].numpy())


@pytest.mark.slow
def test_lazy_adam_under_mirrored_strategy_trains_and_catches_up(train, mirrored):
    from tfdirectspec.training.lazy_adam import LazyAdam, LazyAdamCatchUp

    sampler = InteractionSampler(train, 16, seed=3)
    tables = []
    for strategy in (tf.distribute.get_strategy(), mirrored):
        with strategy.scope():
            model = RetrievalModel(MFTower(NUM_USERS, NUM_ITEMS, 8, seed=5), DirectSpecPlusLoss())
            model.build_for_ids()
            model.compile(optimizer=LazyAdam(0.01), steps_per_execution=1)
        model.fit(
            sampler.stream(), epochs=2, steps_per_epoch=4, verbose=0, callbacks=[LazyAdamCatchUp()]
        )
        # Every row is up to date after the epoch-end catch-up.
        for last in model.optimizer._last_steps:
            assert set(np.unique(np.asarray(last))) == {8}
        tables.append(np.concatenate([t.numpy() for t in model.tables()]))
    single, replicated = tables
    start = np.concatenate([t.numpy() for t in MFTower(NUM_USERS, NUM_ITEMS, 8, seed=5).tables()])
    moved = np.linalg.norm(single - start)
    assert np.all(np.isfinite(replicated)) and moved > 0
    # Across replicas a batch's rows are brought up to date in the update, after the
    # gradient: close to, not equal to, the single-device run.
    assert np.linalg.norm(replicated - single) < 0.2 * moved
