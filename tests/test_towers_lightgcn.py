"""LightGCN tower: propagation against a dense reference, graph edge cases, saving, training."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
from float_bounds import gamma
from keras_roundtrip import assert_round_trip

from tfdirectspec.towers.lightgcn import LightGCNTower
from tfdirectspec.towers.propagation import normalized_interactions

NUM_USERS, NUM_ITEMS, DIM = 15, 20, 4
ISOLATED_USER, ISOLATED_ITEM = 3, 5


def small_train(seed: int = 0) -> sp.csr_matrix:
    """A 15 × 20 graph in which user 3 and item 5 have no interaction."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((NUM_USERS, NUM_ITEMS)) < 0.25).astype(np.float32)
    dense[ISOLATED_USER, :] = 0.0
    dense[:, ISOLATED_ITEM] = 0.0
    dense[0, 0] = 3.0  # a count: must be binarised
    return sp.csr_matrix(dense)


def dense_adjacency(train: sp.csr_matrix) -> np.ndarray:
    """Â = D^-1/2 A D^-1/2 computed densely from the definition, in float64."""
    binary = (train.toarray() != 0).astype(np.float64)
    n = NUM_USERS + NUM_ITEMS
    adjacency = np.zeros((n, n))
    adjacency[:NUM_USERS, NUM_USERS:] = binary
    adjacency[NUM_USERS:, :NUM_USERS] = binary.T
    degree = adjacency.sum(axis=1)
    with np.errstate(divide="ignore"):
        inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(degree), 0.0)
    return inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]


def dense_polynomial(train: sp.csr_matrix, num_layers: int, combination: str) -> np.ndarray:
    """P(Â) = c Σ_k Â^k as a dense matrix."""
    adjacency = dense_adjacency(train)
    scale = 1.0 / (num_layers + 1) if combination == "mean" else 1.0
    power, total = np.eye(len(adjacency)), np.eye(len(adjacency))
    for _ in range(num_layers):
        power = power @ adjacency
        total = total + power
    return scale * total


def ego(tower: LightGCNTower) -> np.ndarray:
    return np.concatenate([tower.user_embeddings.numpy(), tower.item_embeddings.numpy()])


def test_normalized_adjacency_matches_definition() -> None:
    train = small_train()
    # Â is R̂ in the user–item blocks: the tower stores only R̂.
    block = normalized_interactions(train)
    adjacency = sp.bmat([[None, block], [block.T, None]], format="csr")
    expected = dense_adjacency(train)
    assert adjacency.dtype == np.float32
    # 1 / √(d_u d_i) in float32: a few roundings of u each (square roots, a division).
    np.testing.assert_allclose(adjacency.toarray(), expected, rtol=gamma(8, np.float32), atol=0)
    assert (adjacency != adjacency.T).nnz == 0  # bit-exact symmetry
    assert np.all(np.isfinite(adjacency.data))
    assert adjacency[ISOLATED_USER].nnz == 0
    assert adjacency[NUM_USERS + ISOLATED_ITEM].nnz == 0
    assert adjacency.diagonal().sum() == 0  # no self loops
    block = normalized_interactions(train, NUM_USERS + 2, NUM_ITEMS)
    assert block.shape == (NUM_USERS + 2, NUM_ITEMS)
    assert block[NUM_USERS:].nnz == 0
    # The tower stores exactly the user–item block of Â.
    tower = LightGCNTower.from_interactions(train, embedding_dim=DIM, seed=0)
    assert tower.num_edges == (train != 0).sum()
    np.testing.assert_array_equal(
        tower.interaction_block().toarray(), adjacency[:NUM_USERS, NUM_USERS:].toarray()
    )


@pytest.mark.parametrize("combination", ["mean", "sum"])
@pytest.mark.parametrize("num_layers", [0, 1, 3])
@pytest.mark.parametrize("graph_mode", [False, True])
def test_forward_and_gradient_match_dense(
    num_layers: int, combination: str, graph_mode: bool
) -> None:
    train = small_train()
    tower = LightGCNTower.from_interactions(
        train, embedding_dim=DIM, num_layers=num_layers, combination=combination, seed=7
    )
    polynomial = dense_polynomial(train, num_layers, combination)
    e0 = ego(tower).astype(np.float64)
    expected = polynomial @ e0
    weights = np.random.default_rng(1).standard_normal(expected.shape)

    def loss_and_grads() -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            users, items = tower.tables(training=True)
            out = tf.concat([users, items], axis=0)
            # Not linear in the output, so the upstream gradient depends on it.
            loss = 0.5 * tf.reduce_sum(tf.constant(weights, tf.float32) * tf.square(out))
        return out, loss, tape.gradient(loss, [tower.user_embeddings, tower.item_embeddings])

    fn = tf.function(loss_and_grads, jit_compile=False) if graph_mode else loss_and_grads
    out, _, (grad_users, grad_items) = fn()
    # Each float32 layer is a sum of at most (degree + 1) products with entries rounded to
    # float32 (one more u each); so P E in float32 is off by at most γ_m |P| |E|, m below.
    degree = max(np.diff(train.indptr).max(), np.diff(train.tocsc().indptr).max())
    m = (num_layers + 1) * (int(degree) + 3)
    forward_bound = gamma(m, np.float32) * (np.abs(polynomial) @ np.abs(e0))
    assert np.all(np.abs(out.numpy() - expected) <= forward_bound)
    # L = ½ Σ W ⊙ (P E)² ⇒ ∂L/∂E = Pᵀ (W ⊙ P E): the backward pass applies Pᵀ once more.
    expected_grad = polynomial.T @ (weights * expected)
    grad = np.concatenate([np.asarray(grad_users), np.asarray(grad_items)])
    grad_bound = gamma(2 * m + 1, np.float32) * (
        np.abs(polynomial).T @ (np.abs(weights) * (np.abs(polynomial) @ np.abs(e0)))
    )
    assert np.all(np.abs(grad - expected_grad) <= grad_bound)


@pytest.mark.parametrize("combination", ["mean", "sum"])
def test_zero_degree_nodes_keep_their_layer_zero_share(combination: str) -> None:
    num_layers = 3
    tower = LightGCNTower.from_interactions(
        small_train(), embedding_dim=DIM, num_layers=num_layers, combination=combination, seed=0
    )
    users, items = (t.numpy() for t in tower.tables())
    assert np.all(np.isfinite(users)) and np.all(np.isfinite(items))
    scale = 1.0 / (num_layers + 1) if combination == "mean" else 1.0
    np.testing.assert_allclose(
        users[ISOLATED_USER], scale * tower.user_embeddings.numpy()[ISOLATED_USER], rtol=1e-6
    )
    np.testing.assert_allclose(
        items[ISOLATED_ITEM], scale * tower.item_embeddings.numpy()[ISOLATED_ITEM], rtol=1e-6
    )
    # ... and they receive no propagation: their embeddings only reach themselves.
    with tf.GradientTape() as tape:
        users, items = tower.tables()
        loss = tf.reduce_sum(tf.concat([users[:ISOLATED_USER], users[ISOLATED_USER + 1 :]], 0))
        loss += tf.reduce_sum(items)
    grad_users, _ = tape.gradient(loss, [tower.user_embeddings, tower.item_embeddings])
    np.testing.assert_array_equal(np.asarray(grad_users)[ISOLATED_USER], 0.0)


def test_graph_without_edges_is_finite() -> None:
    tower = LightGCNTower.from_interactions(
        sp.csr_matrix((4, 6), dtype=np.float32), embedding_dim=DIM, num_layers=2, seed=0
    )
    assert tower.num_edges == 0
    users, _ = tower.tables()
    # The mean of three layers (e, 0, 0): one sum and one division or product by 1/3.
    rtol = gamma(3, np.float32)
    np.testing.assert_allclose(users.numpy(), tower.user_embeddings.numpy() / 3, rtol=rtol)


@pytest.mark.parametrize("num_layers", [-1, 50])
def test_num_layers_out_of_range_is_refused(num_layers: int) -> None:
    message = f"layers must be between 0 and 10, got {num_layers}"
    with pytest.raises(ValueError, match=message):
        LightGCNTower(NUM_USERS, NUM_ITEMS, num_layers=num_layers)
    with pytest.raises(ValueError, match=message):
        LightGCNTower.from_interactions(small_train(), num_layers=num_layers)


@pytest.mark.parametrize("bad", [2.5, True, "3"])
def test_num_layers_must_be_an_int(bad: object) -> None:
    with pytest.raises(ValueError, match="layers must be between 0 and 10"):
        LightGCNTower(NUM_USERS, NUM_ITEMS, num_layers=bad)


def test_bad_combination_is_refused() -> None:
    with pytest.raises(ValueError, match="combination"):
        LightGCNTower(NUM_USERS, NUM_ITEMS, combination="max")


def test_initialisation_is_seeded_glorot() -> None:
    a = LightGCNTower.from_interactions(small_train(), embedding_dim=DIM, seed=3)
    b = LightGCNTower.from_interactions(small_train(), embedding_dim=DIM, seed=3)
    np.testing.assert_array_equal(ego(a), ego(b))
    bound = np.sqrt(6.0 / (NUM_USERS + DIM))
    assert np.abs(a.user_embeddings.numpy()).max() <= bound


def test_config_and_keras_round_trip(tmp_path) -> None:
    tower = LightGCNTower.from_interactions(
        small_train(), embedding_dim=DIM, num_layers=2, combination="sum", seed=5
    )
    config = tower.get_config()
    for key, value in dict(
        num_users=NUM_USERS,
        num_items=NUM_ITEMS,
        embedding_dim=DIM,
        num_layers=2,
        combination="sum",
        seed=5,
        num_edges=small_train().nnz,
    ).items():
        assert config[key] == value
    # The graph is data: zero until the weights arrive.
    clone = LightGCNTower.from_config(config)
    assert clone.adjacency_values.shape == tower.adjacency_values.shape
    assert not np.any(clone.adjacency_values.numpy())
    # The .keras file carries the graph: the reloaded tower propagates identically.
    restored = assert_round_trip(tower, tmp_path)
    assert isinstance(restored.tower, LightGCNTower)
    np.testing.assert_array_equal(
        restored.tower.adjacency_values.numpy(), tower.adjacency_values.numpy()
    )


def test_gradients_reach_both_tables_through_call() -> None:
    tower = LightGCNTower.from_interactions(small_train(), embedding_dim=DIM, seed=0)
    batch = {"user": tf.constant([0, 1, 2, 4]), "item": tf.constant([1, 2, 3, 6])}
    with tf.GradientTape() as tape:
        out = tower(batch, training=True)
        assert set(out) == {"user", "user_ego", "item", "item_ego"}
        loss = -tf.reduce_mean(tf.math.log_sigmoid(tf.reduce_sum(out["user"] * out["item"], -1)))
    grads = tape.gradient(loss, tower.trainable_variables)
    assert len(grads) == 2
    for grad in grads:
        grad = tf.convert_to_tensor(grad)
        assert np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).sum() > 0
    # Only the user rows in the loss: the items still get gradient via propagation.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tower(batch)["user"])
    _, grad_items = tape.gradient(loss, [tower.user_embeddings, tower.item_embeddings])
    assert np.abs(tf.convert_to_tensor(grad_items).numpy()).sum() > 0


@pytest.mark.parametrize("jit_compile", [False, "auto", True])
def test_fit_runs_without_xla(jit_compile: bool | str) -> None:
    tower = LightGCNTower.from_interactions(small_train(), embedding_dim=DIM, seed=0)
    inputs = {
        "user": keras.Input(shape=(), dtype="int32", name="user"),
        "item": keras.Input(shape=(), dtype="int32", name="item"),
    }
    rows = tower(inputs)
    model = keras.Model(inputs, keras.ops.sum(rows["user"] * rows["item"], axis=-1))
    with pytest.warns(UserWarning) if jit_compile is True else contextlib.nullcontext():
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse", jit_compile=jit_compile)
    assert model.jit_compile is False
    train = small_train().tocoo()
    x = {"user": train.row.astype(np.int32), "item": train.col.astype(np.int32)}
    y = np.ones(train.nnz, np.float32)
    before = ego(tower)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.array_equal(ego(tower), before)
