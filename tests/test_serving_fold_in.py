"""Fold-in vectors: the mean of unit item rows, and the ridge least-squares user vector."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfdirectspec.serving.fold_in import fold_in_vectors


def _padded(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    index = np.zeros((len(rows), width), np.int64)
    known = np.zeros((len(rows), width), bool)
    for j, r in enumerate(rows):
        index[j, : len(r)], known[j, : len(r)] = r, True
    return index, known


def test_mean_of_unit_rows_ignores_padding_and_norms():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(20, 5)).astype(np.float32)
    index, known = _padded([[1, 4, 7], [2], []])
    got = fold_in_vectors(tf.constant(items), index, known).numpy()
    unit = items / np.linalg.norm(items, axis=1, keepdims=True)
    np.testing.assert_allclose(got[0], unit[[1, 4, 7]].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(got[1], unit[2], rtol=1e-5)
    assert not got[2].any()  # no item: the zero vector
    scaled = items * rng.uniform(0.1, 10, size=(20, 1)).astype(np.float32)
    np.testing.assert_allclose(
        fold_in_vectors(tf.constant(scaled), index, known).numpy(), got, rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize("l2", [0.01, 1.0, 10.0])
def test_ridge_solves_its_normal_equations(l2):
    rng = np.random.default_rng(1)
    items = rng.normal(size=(30, 6)).astype(np.float64)
    given = [3, 8, 11, 20]
    index, known = _padded([given])
    got = fold_in_vectors(tf.constant(items, tf.float32), index, known, "ridge", l2).numpy()[0]
    rows = items[given]
    lam = l2 * np.mean(np.sum(items**2, axis=1))
    want = np.linalg.solve(rows.T @ rows + lam * np.eye(6), rows.T @ np.ones(len(given)))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="mean"):
        fold_in_vectors(tf.zeros([2, 2]), np.zeros((1, 1), np.int64), np.ones((1, 1), bool), "x")
