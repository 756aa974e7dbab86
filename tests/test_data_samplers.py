"""The tf.data samplers: distributions, negatives, masks, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.data.samplers import (
    _NEGATIVE_ROUNDS,
    InteractionSampler,
    shared_interaction_mask,
)


def _random_csr(num_users=40, num_items=30, density=0.15, seed=0, empty_user=True):
    rng = np.random.default_rng(seed)
    dense_mask = rng.random((num_users, num_items)) < density
    dense_mask[np.arange(num_users - 1), rng.integers(0, num_items, num_users - 1)] = True
    if empty_user:
        dense_mask[-1] = False  # a user with no training items is never sampled
    return sp.csr_matrix(dense_mask.astype(np.float32))


def _take(sampler, n, start=0):
    batches = list(sampler.stream(start_step=start).take(n).as_numpy_iterator())
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def test_user_scheme_draws_users_uniformly_and_positives_uniformly_per_user():
    train = _random_csr()
    sampler = InteractionSampler(train, batch_size=500, scheme="user", seed=1)
    got = _take(sampler, 80)
    users, items = got["user"], got["item"]
    assert np.all(train[users, items].A1 == 1)  # only positives
    active = np.flatnonzero(np.diff(train.indptr))
    counts = np.bincount(users, minlength=train.shape[0])
    assert counts[-1] == 0
    expected = len(users) / len(active)
    # chi-square test of uniform users: 39 dof, p = 0.001 critical value ≈ 72.
    chi2 = ((counts[active] - expected) ** 2 / expected).sum()
    assert chi2 < 72, chi2
    # Items of one well-sampled user: uniform over its positives.
    user = active[np.argmax(np.diff(train.indptr)[active])]
    its = items[users == user]
    cols = train[user].indices
    c = np.array([(its == i).sum() for i in cols])
    chi2 = ((c - c.mean()) ** 2 / c.mean()).sum()
    assert chi2 < 35, chi2  # ≤ 14 dof at p = 0.001


def test_pair_scheme_draws_interactions_uniformly():
    train = _random_csr()
    sampler = InteractionSampler(train, batch_size=500, scheme="pair", seed=2)
    got = _take(sampler, 80)
    key = got["user"] * train.shape[1] + got["item"]
    coo = train.tocoo()
    all_keys = coo.row * train.shape[1] + coo.col
    counts = np.array([(key == k).sum() for k in all_keys])
    assert counts.sum() == len(key)
    expected = len(key) / train.nnz
    chi2 = ((counts - expected) ** 2 / expected).sum()
    dof = train.nnz - 1
    assert chi2 < dof + 4 * np.sqrt(2 * dof)


def test_negatives_are_never_positives_and_uniform():
    train = _random_csr(density=0.4)
    sampler = InteractionSampler(train, batch_size=500, negatives=True, seed=3)
    got = _take(sampler, 40)
    assert np.all(train[got["user"], got["negative"]].A1 == 0)
    # Conditional on the user, negatives are uniform over its non-positives.
    user = np.bincount(got["user"]).argmax()
    neg = got["negative"][got["user"] == user]
    allowed = np.setdiff1d(np.arange(train.shape[1]), train[user].indices)
    assert set(neg) <= set(allowed)
    c = np.array([(neg == i).sum() for i in allowed])
    chi2 = ((c - c.mean()) ** 2 / c.mean()).sum()
    dof = len(allowed) - 1
    assert chi2 < dof + 5 * np.sqrt(2 * dof)


def test_negative_rounds_stop_early_without_changing_the_draws():
    # The sampler stops redrawing once no row is a positive; the result must be
    # what all _NEGATIVE_ROUNDS rounds of rejection give from the same streams.
    train = _random_csr(density=0.6, seed=2)
    sampler = InteractionSampler(train, batch_size=300, negatives=True, seed=5)
    for step in (0, 9):
        got = next(iter(sampler.stream(start_step=step)))
        stream = tf.random.experimental.stateless_split(tf.constant([5, step], tf.int64), num=3)[2]
        expected = _all_rounds(train, got["user"], stream)
        np.testing.assert_array_equal(got["negative"].numpy(), expected)


def _all_rounds(train, users, stream):
    """Reference rejection sampling: every round, in NumPy membership tests."""
    streams = tf.random.experimental.stateless_split(stream, num=_NEGATIVE_ROUNDS)
    size, num_items = users.shape[0], train.shape[1]
    dense = train.toarray() > 0
    users = users.numpy()
    draws = tf.random.stateless_uniform([size], streams[0], 0, num_items, dtype=tf.int64).numpy()
    for round_ in range(1, _NEGATIVE_ROUNDS):
        fresh = tf.random.stateless_uniform(
            [size], streams[round_], 0, num_items, dtype=tf.int64
        ).numpy()
        draws = np.where(dense[users, draws], fresh, draws)
    return draws


def test_same_seed_same_stream_and_resume_continues_it():
    train = _random_csr()
    a = _take(InteractionSampler(train, 64, negatives=True, seed=7), 5)
    b = _take(InteractionSampler(train, 64, negatives=True, seed=7), 5)
    c = _take(InteractionSampler(train, 64, negatives=True, seed=8), 5)
    resumed = _take(InteractionSampler(train, 64, negatives=True, seed=7), 2, start=3)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_array_equal(a[key][3 * 64 :], resumed[key])
    assert not np.array_equal(a["user"], c["user"])


def test_shared_masks_match_dense_reference():
    train = _random_csr(density=0.05)
    sampler = InteractionSampler(train, batch_size=32, shared_masks=True, seed=0)
    batch = next(sampler.stream().as_numpy_iterator())
    dense = train.toarray()  # small test matrix: a dense reference is fine here
    want_u = (dense[batch["user"]] @ dense[batch["user"]].T) > 0
    np.fill_diagonal(want_u, True)
    want_i = (dense[:, batch["item"]].T @ dense[:, batch["item"]]) > 0
    np.fill_diagonal(want_i, True)
    np.testing.assert_array_equal(batch["user_shared"], want_u)
    np.testing.assert_array_equal(batch["item_shared"], want_i)
    assert batch["user_shared"].dtype == np.uint8


def test_shared_interaction_mask_diagonal_even_without_interactions():
    m = shared_interaction_mask(sp.csr_matrix((3, 4), dtype=np.float32), np.array([0, 1, 2]))
    np.testing.assert_array_equal(m, np.eye(3, dtype=np.uint8))


def test_steps_per_epoch_and_bad_arguments():
    train = _random_csr()
    assert InteractionSampler(train, 7).steps_per_epoch == train.nnz // 7
    with pytest.raises(ValueError, match="scheme"):
        InteractionSampler(train, 7, scheme="zipf")
    with pytest.raises(ValueError, match="batch_size"):
        InteractionSampler(train, 0)
    with pytest.raises(ValueError, match="no interactions"):
        InteractionSampler(sp.csr_matrix((3, 3), dtype=np.float32), 2)


def test_row_search_matches_scipy_membership():
    # _in_rows replaces a sorted key array (8 bytes per pair) by a binary search in
    # the CSR's own indices; check it on rows of every length, empty ones included.
    from tfdirectspec.data.samplers import _in_rows

    rng = np.random.default_rng(4)
    degrees = np.array([0, 1, 2, 3, 7, 8, 9, 40, 0, 63])
    rows = np.repeat(np.arange(degrees.size), degrees)
    cols = np.concatenate([rng.choice(64, d, replace=False) for d in degrees])
    train = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(degrees.size, 64))
    train.sort_indices()
    queries_u = np.repeat(np.arange(degrees.size), 64)
    queries_i = np.tile(np.arange(64), degrees.size)
    got = _in_rows(
        tf.constant(train.indptr.astype(np.int64)),
        tf.constant(train.indices.astype(np.int32)),
        tf.constant(queries_u, tf.int64),
        tf.constant(queries_i, tf.int64),
        int(degrees.max()).bit_length(),
    )
    expected = np.asarray(train[queries_u, queries_i]).ravel() > 0
    np.testing.assert_array_equal(got.numpy(), expected)
