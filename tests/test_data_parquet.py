"""Parquet interaction files: column choice, id types, one-line errors, data folders."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tfdirectspec.data import load_data_dir, read_columns, read_interactions
from tfdirectspec.errors import InputError


def _write(tmp_path, name, columns, row_group_size=None):
    path = tmp_path / name
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("user", "item", "rating"), ([3, 0, 3], [7, 1, 7])),
        (("ITEM_ID", "ts", "user_id"), ([4, 4, 4], [3, 0, 3])),  # named: order is free
        (("a", "b", "c"), ([3, 0, 3], [7, 1, 7])),  # unnamed: the first two columns
    ],
)
def test_int_round_trip_named_and_unnamed_columns(tmp_path, names, expected):
    values = [[3, 0, 3], [7, 1, 7], [4, 4, 4]]
    path = _write(tmp_path, "t.parquet", dict(zip(names, values, strict=True)))
    users, items = read_columns(path)
    assert users.dtype == np.int64 and items.dtype == np.int64
    assert (users.tolist(), items.tolist()) == expected
    np.testing.assert_array_equal(read_interactions(path), np.stack(expected, axis=1))


def test_int_ids_of_every_integer_width_and_many_row_groups(tmp_path):
    rng = np.random.default_rng(0)
    users = rng.integers(0, 2**62, size=1000)
    items = rng.integers(0, 200, size=1000).astype(np.uint8)
    path = _write(tmp_path, "t.parquet", {"user": users, "item": items}, row_group_size=64)
    got_users, got_items = read_columns(path)
    np.testing.assert_array_equal(got_users, users)
    np.testing.assert_array_equal(got_items, items.astype(np.int64))


def test_string_ids_plain_dictionary_and_integers_as_text(tmp_path):
    columns = {
        "user": pa.array(["bob", "ämy", "bob"]).dictionary_encode(),
        "item": pa.array(["x y", "z", "x y"], type=pa.large_string()),
    }
    pairs = read_interactions(_write(tmp_path, "s.parquet", columns), id_type="str")
    assert pairs.dtype.kind == "U"
    assert pairs.tolist() == [["bob", "x y"], ["ämy", "z"], ["bob", "x y"]]
    ints = _write(tmp_path, "i.parquet", {"user": [10, 2], "item": ["a", "b"]})
    assert read_interactions(ints, id_type="str").tolist() == [["10", "a"], ["2", "b"]]


def test_format_from_magic_bytes_or_explicit(tmp_path):
    path = _write(tmp_path, "t.parquet", {"user": [1], "item": [2]})
    renamed = path.rename(tmp_path / "interactions.bin")
    assert read_interactions(renamed).tolist() == [[1, 2]]
    assert read_interactions(renamed, fmt="parquet").tolist() == [[1, 2]]


@pytest.mark.parametrize(
    ("columns", "id_type", "message"),
    [
        ({"user": [1, None], "item": [2, 3]}, "int", r"column 'user' row 1: null id \(1 nulls\)"),
        ({"user": [1, 2], "item": [2, -3]}, "int", r"column 'item' row 1: id -3 is not a non-neg"),
        (
            {"user": pa.array([1, 2**63], type=pa.uint64()), "item": [2, 3]},
            "int",
            r"column 'user' row 1: id 9223372036854775808 is not a non-negative integer",
        ),
        ({"user": [1.0], "item": [2]}, "int", r"column 'user': has type double, expected integer"),
        ({"user": ["a"], "item": [2]}, "int", r"has type string, expected integer ids \(read with"),
        ({"user": ["a", ""], "item": ["b", "c"]}, "str", r"column 'user' row 1: empty id"),
        ({"user": [True], "item": ["c"]}, "str", r"has type bool, expected integer or string"),
        ({"only": [1]}, "int", r"expected user and item columns, found 1 column\(s\) \['only'\]"),
    ],
)
def test_column_errors_are_one_line_naming_file_and_column(tmp_path, columns, id_type, message):
    path = _write(tmp_path, "bad.parquet", columns)
    with pytest.raises(InputError, match=message) as info:
        read_columns(path, id_type=id_type)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_missing_and_not_parquet_files(tmp_path):
    with pytest.raises(InputError, match=r"nope\.parquet: no such file$"):
        read_columns(tmp_path / "nope.parquet")
    fake = tmp_path / "fake.parquet"
    fake.write_text("user\titem\n1\t2\n")
    with pytest.raises(InputError, match=r"fake\.parquet: not a readable Parquet file \(") as info:
        read_columns(fake)
    assert "\n" not in str(info.value)


def test_load_data_dir_finds_parquet_splits(tmp_path):
    _write(tmp_path, "train.parquet", {"user": [10, 10, 11], "item": [1, 2, 2]})
    _write(tmp_path, "test.parquet", {"user": [11], "item": [1]})
    (tmp_path / "valid.tsv").write_text("12\t2\n")
    data = load_data_dir(tmp_path)
    assert data.summary() == {"users": 3, "items": 2, "train": 3, "valid": 1, "test": 1}
    assert data.user_ids.tolist() == [10, 11, 12]
    (tmp_path / "train.tsv").write_text("0\t1\n")
    with pytest.raises(InputError, match=r"more than one train file \(train\.tsv, train\.parq"):
        load_data_dir(tmp_path)


def test_load_data_dir_string_parquet_matches_tsv(tmp_path):
    parquet, tsv = tmp_path / "p", tmp_path / "t"
    parquet.mkdir()
    tsv.mkdir()
    pairs = [["u2", "b"], ["u10", "a"], ["u2", "a"]]
    _write(parquet, "train.parquet", {"user": [p[0] for p in pairs], "item": [p[1] for p in pairs]})
    (tsv / "train.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in pairs))
    a, b = load_data_dir(parquet, id_type="str"), load_data_dir(tsv, id_type="str")
    assert a.user_ids.tolist() == b.user_ids.tolist() == ["u10", "u2"]
    assert (a.train != b.train).nnz == 0


def test_error_rows_count_from_the_start_of_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr("tfdirectspec.data.parquet._BATCH_ROWS", 16)
    users = list(range(100))
    users[70] = -5
    path = _write(tmp_path, "t.parquet", {"user": users, "item": [1] * 100}, row_group_size=30)
    with pytest.raises(InputError, match=r"column 'user' row 70: id -5 is not"):
        read_columns(path)
    ok = _write(tmp_path, "ok.parquet", {"user": range(100), "item": [1] * 100}, row_group_size=30)
    assert read_columns(ok)[0].tolist() == list(range(100))
