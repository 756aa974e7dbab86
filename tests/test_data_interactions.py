"""InteractionData: id maps, CSR invariants, validation carving, id-map files and splits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from tfdirectspec.data import InteractionData, from_columns, from_pairs, split_by_ratio
from tfdirectspec.errors import InputError


def _random_pairs(num_users=300, num_items=500, per_user=(1, 40), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(num_users):
        degree = int(rng.integers(*per_user, endpoint=True))
        items = rng.choice(num_items, size=degree, replace=False)
        rows += [(user, item) for item in items]
    return np.array(rows, dtype=np.int64)


def _pair_set(matrix):
    coo = matrix.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))


def _assert_canonical_binary(matrix, shape):
    assert isinstance(matrix, sp.csr_matrix)
    assert matrix.shape == shape
    assert matrix.dtype == np.float32
    assert matrix.has_canonical_format and matrix.has_sorted_indices
    assert np.all(matrix.data == 1.0)
    check = matrix.copy()
    check.sort_indices()
    np.testing.assert_array_equal(check.indices, matrix.indices)


def test_integer_ids_0_to_max_map_to_themselves_and_duplicates_collapse():
    train = np.array([[2, 0], [0, 3], [2, 0], [1, 1]])
    test = np.array([[0, 2]])
    data = from_pairs(train, test, name="toy")
    assert data.user_ids.dtype == np.int64
    np.testing.assert_array_equal(data.user_ids, [0, 1, 2])
    np.testing.assert_array_equal(data.item_ids, [0, 1, 2, 3])
    assert data.summary() == {"users": 3, "items": 4, "train": 3, "valid": 0, "test": 1}
    for part in (data.train, data.test, data.valid):
        _assert_canonical_binary(part, (3, 4))
    assert _pair_set(data.train) == {(2, 0), (0, 3), (1, 1)}
    assert data.name == "toy" and data.num_train == 3


def test_sparse_integer_ids_sort_numerically_and_cover_test_only_ids():
    data = from_pairs([[100, 20], [9, 3]], [[1000, 3]])
    np.testing.assert_array_equal(data.user_ids, [9, 100, 1000])
    np.testing.assert_array_equal(data.item_ids, [3, 20])
    np.testing.assert_array_equal(data.user_index([1000, 100, 7, "9", "x"]), [2, 1, -1, 0, -1])
    assert data.test.nnz == 1 and data.test[2, 0] == 1.0


def test_string_ids_sort_lexicographically():
    data = from_pairs([["bob", "i10"], ["amy", "i2"]], valid_pairs=[["carl", "i10"]])
    assert data.user_ids.tolist() == ["amy", "bob", "carl"]
    assert data.item_ids.tolist() == ["i10", "i2"]
    np.testing.assert_array_equal(data.item_index(np.array(["i2", "i3"])), [1, -1])
    np.testing.assert_array_equal(data.user_index("carl"), 2)
    assert data.valid.nnz == 1 and data.test.nnz == 0


def test_bad_pairs_and_inconsistent_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"shape \[n, 2\]"):
        from_pairs(np.zeros((3, 3), dtype=int))
    with pytest.raises(ValueError, match="integers or strings"):
        from_pairs(np.zeros((3, 2), dtype=float))
    data = from_pairs([[0, 0]])
    with pytest.raises(ValueError, match="shape"):
        dataclasses.replace(data, test=sp.csr_matrix((2, 1), dtype=np.float32))


def test_id_maps_round_trip(tmp_path):
    for train in ([[5, 7], [2, 9]], [["u b", "x"], ["ü", "y"]]):
        data = from_pairs(train)
        path = data.save_id_maps(tmp_path / "run")
        assert path.name == "id_maps.npz"
        users, items = InteractionData.load_id_maps(tmp_path / "run")
        np.testing.assert_array_equal(users, data.user_ids)
        np.testing.assert_array_equal(items, data.item_ids)
        assert users.dtype == data.user_ids.dtype
    with pytest.raises(InputError, match="id_maps.npz: no such file"):
        InteractionData.load_id_maps(tmp_path / "missing")


def test_with_validation_is_deterministic_disjoint_and_keeps_one_in_train():
    data = from_pairs(_random_pairs(), name="r")
    split = data.with_validation(0.2, seed=7)
    again = data.with_validation(0.2, seed=7)
    other = data.with_validation(0.2, seed=8)
    assert _pair_set(split.valid) == _pair_set(again.valid)
    assert _pair_set(split.valid) != _pair_set(other.valid)
    assert _pair_set(split.train) | _pair_set(split.valid) == _pair_set(data.train)
    assert not _pair_set(split.train) & _pair_set(split.valid)
    for part in (split.train, split.valid):
        _assert_canonical_binary(part, data.train.shape)
    degree = np.diff(data.train.indptr)
    kept = np.diff(split.train.indptr)
    held = np.diff(split.valid.indptr)
    assert np.all(kept >= 1)
    np.testing.assert_array_equal(held[degree == 1], 0)
    expected = np.minimum(np.floor(0.2 * degree + 0.5), degree - 1)
    np.testing.assert_array_equal(held, expected)
    assert split.valid.nnz / data.num_train == pytest.approx(0.2, abs=0.02)
    assert split.test is data.test and split.user_ids is data.user_ids and split.name == "r"


def test_with_validation_zero_returns_self_and_checks_fraction():
    data = from_pairs(_random_pairs(num_users=5))
    assert data.with_validation(0.0, seed=1) is data
    for bad in (1.0, -0.1, "x"):
        with pytest.raises(InputError, match="valid_fraction must be"):
            data.with_validation(bad, seed=1)
    with pytest.raises(ValueError, match="already has a validation split"):
        data.with_validation(0.5, seed=1).with_validation(0.5, seed=1)


def test_split_by_ratio_is_deterministic_disjoint_and_honours_the_fraction():
    pairs = _random_pairs(seed=1)
    pairs = np.concatenate([pairs, pairs[:50]])  # duplicates must not leak into test
    train, test = split_by_ratio(pairs, 0.25, seed=3)
    train2, test2 = split_by_ratio(pairs, 0.25, seed=3)
    _, test3 = split_by_ratio(pairs, 0.25, seed=4)
    np.testing.assert_array_equal(test, test2)
    np.testing.assert_array_equal(train, train2)
    assert {tuple(p) for p in test.tolist()} != {tuple(p) for p in test3.tolist()}
    train_set = {tuple(p) for p in train.tolist()}
    test_set = {tuple(p) for p in test.tolist()}
    assert not train_set & test_set
    assert train_set | test_set == {tuple(p) for p in pairs.tolist()}
    assert len(train) + len(test) == len(train_set) + len(test_set)
    assert set(train[:, 0].tolist()) == set(pairs[:, 0].tolist())  # everyone keeps one
    assert len(test) / (len(train) + len(test)) == pytest.approx(0.25, abs=0.02)
    assert train.dtype == pairs.dtype


def test_split_by_ratio_string_ids_and_edge_cases():
    pairs = np.array([["a", "x"], ["a", "y"], ["b", "x"]])
    train, test = split_by_ratio(pairs, 0.5, seed=0)
    assert test.tolist() in ([["a", "x"]], [["a", "y"]])
    assert ["b", "x"] in train.tolist()
    train, test = split_by_ratio(pairs, 0.0, seed=0)
    assert len(test) == 0 and train.tolist() == pairs.tolist()
    with pytest.raises(InputError, match="test_fraction must be"):
        split_by_ratio(pairs, 1.0, seed=0)


def test_string_id_maps_equal_np_unique_and_searchsorted():
    rng = np.random.default_rng(5)
    words = np.array(["b", "a", "ä", "ab", "A", "10", "9", "z z", "日本"])
    train = words[rng.integers(0, words.size, size=(200, 2))]
    test = words[rng.integers(0, words.size, size=(30, 2))]
    data = from_pairs(train, test)
    for column, ids in ((0, data.user_ids), (1, data.item_ids)):
        expected = np.unique(np.concatenate([train[:, column], test[:, column]]))
        assert ids.dtype.kind == "U"
        np.testing.assert_array_equal(ids, expected)
    rows, cols = data.train.nonzero()
    got = set(zip(data.user_ids[rows].tolist(), data.item_ids[cols].tolist(), strict=True))
    assert got == {tuple(pair) for pair in train.tolist()}


def test_from_columns_takes_arrow_strings_and_numpy_columns():
    import pyarrow as pa

    train = (pa.chunked_array([["u2", "u1"], ["u2"]]), pa.array(["x", "y", "y"]))
    test = (np.array(["u3"]), pa.array(["x"], type=pa.large_string()))
    data = from_columns(train, test)
    assert data.user_ids.tolist() == ["u1", "u2", "u3"]
    assert data.item_ids.tolist() == ["x", "y"]
    assert data.train.toarray().tolist() == [[0, 1], [1, 1], [0, 0]]
    assert data.test.toarray().tolist() == [[0, 0], [0, 0], [1, 0]]


def test_from_columns_integer_ids_match_from_pairs_and_mixed_ids_become_text():
    pairs = np.array([[10**15, 7], [3, 7], [3, 10**12]])
    a = from_columns((pairs[:, 0], pairs[:, 1]))
    b = from_pairs(pairs)
    assert a.user_ids.dtype == np.int64
    np.testing.assert_array_equal(a.user_ids, b.user_ids)
    assert (a.train != b.train).nnz == 0
    mixed = from_columns((np.array([2, 10]), np.array([1, 1])), (np.array(["x"]), np.array(["1"])))
    assert mixed.user_ids.tolist() == ["10", "2", "x"]
    with pytest.raises(ValueError, match="differ in length"):
        from_columns((np.array([1, 2]), np.array([1])))


def test_from_columns_rejects_what_from_pairs_rejects():
    import pyarrow as pa

    with pytest.raises(ValueError, match="integers or strings, got dtype float64"):
        from_columns((np.array([1.5]), np.array([1])))
    with pytest.raises(ValueError, match="must be 1-D"):
        from_columns((np.zeros((2, 2), dtype=int), np.array([1, 2])))
    with pytest.raises(ValueError, match="Arrow type double"):
        from_columns((pa.array([1.5]), pa.array([1])))
    with pytest.raises(ValueError, match="1 nulls"):
        from_columns((pa.array(["a", None]), pa.array(["b", "c"])))
    assert from_columns(([], [])).summary()["users"] == 0
