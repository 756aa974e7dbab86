"""Readers of TSV, CSV and LightGCN text files: formats, fast paths and error messages.

CSV and TSV go through one parser (pyarrow's, :mod:`tfdirectspec.data.delimited`);
LightGCN text through the chunked integer parse, checked against the line parser.
"""

from __future__ import annotations

import sys

import numpy as np
import pyarrow as pa
import pytest

from tfdirectspec.data import read_columns, read_interactions
from tfdirectspec.data.byte_scan import count_byte, has_lone_cr
from tfdirectspec.data.delimited import PY_WHITESPACE
from tfdirectspec.data.int_text import int_columns
from tfdirectspec.data.readers import _parse_lines
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
        read_interactions(path, id_type="int")
    assert read_interactions(path).tolist() == [["1", "2"], ["user", "item"]]


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
    text = "user,item,x\nalice,book 1,\nbob,b2,extra\n"
    pairs = read_interactions(_write(tmp_path, "r.csv", text), id_type="str")
    assert pairs.dtype.kind == "U"
    assert pairs.tolist() == [["alice", "book 1"], ["bob", "b2"]]


def test_string_ids_first_line_is_data_unless_it_is_made_of_header_words(tmp_path):
    pairs = read_interactions(_write(tmp_path, "r.csv", "u1,i1\nu2,i2\n"), id_type="str")
    assert pairs.tolist() == [["u1", "i1"], ["u2", "i2"]]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.tsv", "1\t2\n3\n", r"a\.tsv:2: expected 2 fields, got 1$"),
        ("a.tsv", "1\t2\n3\t4\t5\n", r"a\.tsv:2: expected 2 fields, got 3$"),
        ("a.tsv", "1\n3\n", r"a\.tsv:1: expected at least 2 fields, got 1$"),
        ("a.tsv", "1\t2\nabc\t3\n", r"a\.tsv:2: user id 'abc' is not a non-negative integer$"),
        ("a.csv", "1,2\n\n5,-3\n", r"a\.csv:3: item id '-3' is not a non-negative integer$"),
        ("a.csv", "1,2\n1,2.5\n", r"a\.csv:2: item id '2.5' is not a non-negative integer$"),
        ("a.csv", "-1,-2\n", r"a\.csv:1: user id '-1' is not a non-negative integer$"),
        ("a.tsv", "9" * 20 + "\t1\n", r"a\.tsv:1: user id '9+' is not a non-negative"),
        ("a.tsv", "1\t2\n3\t\n", r"a\.tsv:2: empty item id$"),
        ("a.txt", "0 1 2\n1 2 x\n", r"a\.txt:2: item id 'x' is not a non-negative integer$"),
        ("a.txt", "0 1\n-1 2\n", r"a\.txt:2: user id '-1' is not a non-negative integer$"),
        ("a.tsv", "user\titem\n", r"a\.tsv: no interactions$"),
        ("a.csv", ",", r"a\.csv: no interactions$"),  # a header without a newline
        ("a.tsv", "\n \n", r"a\.tsv: no interactions$"),
        ("a.txt", "0\n1\n", r"a\.txt: no interactions$"),
        ("a.tsv", b"1\t2\n\xff\t3\n", r"a\.tsv:2: not valid UTF-8 text$"),
    ],
)
def test_errors_name_file_and_line(tmp_path, name, text, message):
    path = _write(tmp_path, name, text)
    with pytest.raises(InputError, match=message) as info:
        read_interactions(path, id_type="int")
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


def _random_int_text(rng, sep, lines=300):
    rows = []
    for user in rng.integers(0, 10**15, size=lines):
        if sep is None:
            items = rng.integers(0, 10**6, size=int(rng.integers(0, 4)))
            rows.append(" ".join(str(x) for x in [user, *items]))
        else:
            rows.append(f"{user}{sep}{rng.integers(0, 10**6)}")
        if rng.random() < 0.1:
            rows.append(" \r")
    return ("\r\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("sep", ["\t", ",", None])
@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 1 << 20])
def test_chunked_fast_path_equals_the_validating_parser(sep, chunk_bytes):
    # Tiny chunks make lines straddle every possible chunk boundary.
    buf = _random_int_text(np.random.default_rng(chunk_bytes), sep)
    users, items = int_columns(buf, sep, chunk_bytes=chunk_bytes)
    slow = _parse_lines(buf.decode(), "mem", sep, "int", 1)
    np.testing.assert_array_equal(np.stack([users, items], axis=1), slow)


def test_chunked_fast_path_declines_a_bad_line_in_a_later_chunk():
    buf = b"1\t2\n" * 100 + b"3\tx\n" + b"4\t5\n" * 10
    assert int_columns(buf, "\t", chunk_bytes=16) is None


def test_chunked_fast_path_skips_header_bytes_without_copying():
    buf = b"\xef\xbb\xbfuser\titem\n\xef\xbb\xbf1\t2\n"
    users, items = int_columns(buf, "\t", begin=buf.index(b"\n") + 1)
    assert (users.tolist(), items.tolist()) == ([1], [2])


def test_python_whitespace_table_is_complete():
    expected = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert PY_WHITESPACE == expected


def test_string_columns_stay_arrow_strings(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("user,item\nu1,i1\nu2,i1\n")
    users, items = read_columns(path, id_type="str")
    assert isinstance(users, pa.ChunkedArray) and users.to_pylist() == ["u1", "u2"]


def test_string_path_reports_invalid_utf8_by_line(tmp_path):
    path = tmp_path / "s.tsv"
    path.write_bytes(b"a\tb\nc\td\xff\n")
    with pytest.raises(InputError, match=r"s\.tsv:2: not valid UTF-8 text$"):
        read_interactions(path, id_type="str")


ODD_TEXT = [
    # (text, expected pairs): padding, CRLF, blank lines, lines of separators only.
    (" 1 \t 0002 \r\n\r\n  \n5\t6\n", [[1, 2], [5, 6]]),
    ("1\t2\n\t\n3\t4\n", [[1, 2], [3, 4]]),
    ("1\t2\t7.5\n3\t4\tx y\n", [[1, 2], [3, 4]]),
    ("9223372036854775807\t1\n", [[9223372036854775807, 1]]),
    ('"1"\t"2"\n', [[1, 2]]),
]


@pytest.mark.parametrize(("text", "expected"), ODD_TEXT)
def test_odd_integer_text_reads_exactly_its_pairs(tmp_path, text, expected):
    path = _write(tmp_path, "i.tsv", text)
    for id_type in ("int", "auto"):
        np.testing.assert_array_equal(read_interactions(path, id_type=id_type), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\t2\n-0\t4\n", r"i\.tsv:2: user id '-0' is not"),  # Arrow alone reads -0 as 0
        ("1\t2\n0x10\t4\n", r"i\.tsv:2: user id '0x10' is not"),  # and hex
        ("1\t2\n+4\t4\n", r"i\.tsv:2: user id '\+4' is not"),
        ("9223372036854775808\t1\n", r"i\.tsv:1: user id '9223372036854775808' is not"),
    ],
)
def test_integers_are_non_negative_decimal_int64(tmp_path, text, message):
    path = _write(tmp_path, "i.tsv", text)
    with pytest.raises(InputError, match=message):
        read_interactions(path, id_type="int")
    assert read_interactions(path).dtype.kind == "U"  # auto: strings, as written


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 1 << 20])
def test_byte_scans_across_chunk_boundaries(chunk_bytes):
    text = b"a\r\nb\rc\n\r\n\r"
    assert count_byte(text, b"\n", chunk_bytes=chunk_bytes) == text.count(b"\n")
    assert count_byte(text, b"\n", begin=4, chunk_bytes=chunk_bytes) == text.count(b"\n", 4)
    assert has_lone_cr(text, chunk_bytes=chunk_bytes)
    assert not has_lone_cr(b"a\r\nb\r\n", chunk_bytes=chunk_bytes)
    assert has_lone_cr(b"a\r\nb\r", chunk_bytes=chunk_bytes)
    assert not has_lone_cr(text[:9], begin=5, chunk_bytes=chunk_bytes)
