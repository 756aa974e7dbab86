"""Readers of TSV, CSV and LightGCN text files: formats, fast path and error messages."""

from __future__ import annotations

import numpy as np
import pytest

from tfdirectspec.data import read_interactions
from tfdirectspec.data.readers import _fast_int_pairs, _parse_lines
from tfdirectspec.errors import InputError


def _write(tmp_path, name, text):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, newline="")
    return path


def test_tsv_keeps_rows_and_order_including_duplicates(tmp_path):
    path = _write(tmp_path, "train.tsv", "3\t7\n0\t1\n3\t7\n")
    pairs = read_interactions(path)
    assert pairs.dtype == np.int64
    np.testing.assert_array_equal(pairs, [[3, 7], [0, 1], [3, 7]])


def test_csv_with_header_extra_columns_blank_lines_and_crlf(tmp_path):
    text = "user,item,rating,time\r\n1,2,5.0,2010-01-01\r\n\r\n  \r\n4 , 5,3.5,x\r\n"
    pairs = read_interactions(_write(tmp_path, "r.csv", text))
    np.testing.assert_array_equal(pairs, [[1, 2], [4, 5]])


def test_header_after_leading_blank_lines_and_bom(tmp_path):
    text = "\ufeff\n\nuser\titem\n1\t2\n"
    pairs = read_interactions(_write(tmp_path, "r.tsv", text))
    np.testing.assert_array_equal(pairs, [[1, 2]])


def test_a_header_is_only_skipped_on_the_first_line(tmp_path):
    path = _write(tmp_path, "r.tsv", "1\t2\nuser\titem\n")
    with pytest.raises(InputError, match=r"r\.tsv:2: user id 'user' is not a non-negative"):
        read_interactions(path)


def test_lightgcn_text_with_user_without_items_and_extra_spaces(tmp_path):
    text = "0 5 6 7\n1\n\n2  9\t10 \n"
    pairs = read_interactions(_write(tmp_path, "train.txt", text))
    np.testing.assert_array_equal(pairs, [[0, 5], [0, 6], [0, 7], [2, 9], [2, 10]])


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("data", "1\t2\n", "auto"),
        ("data.dat", "1,2\n", "auto"),
        ("data.dat", "1 2 3\n", "auto"),
        ("data.txt", "1,2\n", "csv"),
        ("data.txt", "user,item\n1,2\n", "auto"),
        ("data.txt", "1\t2\n", "auto"),
        ("data.csv", "1 2\n", "lightgcn"),
        ("data.csv", "1 2\n", "txt"),
    ],
)
def test_format_from_content_or_explicit(tmp_path, name, text, fmt):
    pairs = read_interactions(_write(tmp_path, name, text), fmt=fmt)
    assert pairs[0].tolist() == [1, 2]


def test_string_ids(tmp_path):
    text = "user,item\nalice,book 1\nbob,b2,extra\n"
    pairs = read_interactions(_write(tmp_path, "r.csv", text), id_type="str")
    assert pairs.dtype.kind == "U"
    assert pairs.tolist() == [["alice", "book 1"], ["bob", "b2"]]


def test_string_ids_first_line_is_data_unless_it_is_made_of_header_words(tmp_path):
    pairs = read_interactions(_write(tmp_path, "r.csv", "u1,i1\nu2,i2\n"), id_type="str")
    assert pairs.tolist() == [["u1", "i1"], ["u2", "i2"]]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.tsv", "1\t2\n3\n", r"a\.tsv:2: expected at least 2 fields, got 1$"),
        ("a.tsv", "1\t2\nabc\t3\n", r"a\.tsv:2: user id 'abc' is not a non-negative integer$"),
        ("a.csv", "1,2\n\n5,-3\n", r"a\.csv:3: item id '-3' is not a non-negative integer$"),
        ("a.csv", "1,2\n1,2.5\n", r"a\.csv:2: item id '2.5' is not a non-negative integer$"),
        ("a.csv", "-1,-2\n", r"a\.csv:1: user id '-1' is not a non-negative integer$"),
        ("a.tsv", "9" * 20 + "\t1\n", r"a\.tsv:1: user id '9+' is not a non-negative"),
        ("a.tsv", "1\t2\n3\t\n", r"a\.tsv:2: item id '' is not a non-negative integer$"),
        ("a.txt", "0 1 2\n1 2 x\n", r"a\.txt:2: item id 'x' is not a non-negative integer$"),
        ("a.txt", "0 1\n-1 2\n", r"a\.txt:2: user id '-1' is not a non-negative integer$"),
        ("a.tsv", "user\titem\n", r"a\.tsv: no interactions$"),
        ("a.tsv", "\n \n", r"a\.tsv: no interactions$"),
        ("a.txt", "0\n1\n", r"a\.txt: no interactions$"),
        ("a.tsv", b"1\t2\n\xff\t3\n", r"a\.tsv:2: not valid UTF-8 text$"),
    ],
)
def test_errors_name_file_and_line(tmp_path, name, text, message):
    path = _write(tmp_path, name, text)
    with pytest.raises(InputError, match=message) as info:
        read_interactions(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_string_id_is_an_error(tmp_path):
    path = _write(tmp_path, "s.csv", "a,b\n,c\n")
    with pytest.raises(InputError, match=r"s\.csv:2: empty user id"):
        read_interactions(path, id_type="str")


def test_missing_file_directory_and_bad_arguments(tmp_path):
    with pytest.raises(InputError, match=r"nope\.tsv: no such file"):
        read_interactions(tmp_path / "nope.tsv")
    with pytest.raises(InputError, match="is a directory"):
        read_interactions(tmp_path)
    path = _write(tmp_path, "a.tsv", "1\t2\n")
    with pytest.raises(InputError, match="unknown format 'xml'"):
        read_interactions(path, fmt="xml")
    with pytest.raises(InputError, match="unknown id type 'float'"):
        read_interactions(path, id_type="float")


@pytest.mark.parametrize("sep", ["\t", ",", None])
def test_fast_path_agrees_with_the_validating_parser(sep):
    rng = np.random.default_rng(3)
    lines = []
    for user in range(200):
        items = rng.integers(0, 10 ** int(rng.integers(1, 18)), size=int(rng.integers(0, 6)))
        if sep is None:
            lines.append(" ".join(str(x) for x in [user, *items]) + " " * int(rng.integers(2)))
        else:
            lines += [
                f"{user}{sep}{item}{sep}{user}" if item % 2 else f"{user}{sep}{item}"
                for item in items
            ]
        if rng.random() < 0.1:
            lines.append("  \r")
    text = "\r\n".join(lines) + "\n"
    fast = _fast_int_pairs(text.encode(), sep)
    slow = _parse_lines(text, "mem", sep, "int", 1)
    assert fast is not None
    np.testing.assert_array_equal(fast, slow)


@pytest.mark.parametrize(
    ("text", "sep"),
    [("1\t2\t\n", "\t"), ("1 2\t3\n", "\t"), ("1\n", "\t"), ("1,,2\n", ","), ("+1,2\n", ",")],
)
def test_fast_path_declines_what_it_does_not_fully_understand(text, sep):
    assert _fast_int_pairs(text.encode(), sep) is None
