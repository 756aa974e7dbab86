"""Inputs that try to break the readers: property-based tests with hypothesis.

Malformed ``train.tsv``/``test.tsv`` files must end in exactly one ``InputError`` line
naming the file (and the first bad line), which the command line prints as one stderr line
with exit status 2, never a traceback; valid but odd files (BOM, CRLF, blank lines, padded
fields, extra columns, int64's largest value) must read to exactly their pairs. Ids are
read with ``id_type="int"`` (``--id-type int``), where a non-integer id is malformed; by
default it would make the ids strings. Every record has the first record's number of
fields (RFC 4180), so a file's extra columns are the same on every line. The command
line is only run on invalid data, so no test here trains a model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfdirectspec import cli
from tfdirectspec.data import load_data_dir
from tfdirectspec.data.readers import read_interactions
from tfdirectspec.errors import InputError

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
INT64_MAX = np.iinfo(np.int64).max

ids = st.one_of(st.integers(0, 60), st.sampled_from([0, 7, INT64_MAX]))


EXTRAS = ["", "\t5", "\t4.5\tx y", "\t"]


@st.composite
def good_line(draw, extra: str = "") -> tuple[str, tuple[int, int]]:
    """A valid TSV line and its pair: padded ids, leading zeros, the file's extra columns."""
    user, item = draw(ids), draw(ids)
    pad = draw(st.sampled_from(["", " ", "  "]))
    zeros = draw(st.sampled_from(["", "0", "00"]))
    return f"{pad}{zeros}{user}{pad}\t{pad}{item}{pad}{extra}", (user, item)


BAD_LINES = [
    "abc\t5",  # non-numeric user
    "5\tx1",  # non-numeric item
    "-3\t5",  # negative user
    "5\t-3",  # negative item
    "+4\t5",  # a sign is not a non-negative integer
    "5",  # one field
    "1,2",  # the wrong separator: one field
    "1 2",  # spaces are not the separator
    "1.5\t2",  # a float
    "1e3\t2",
    "\t5",  # empty user
    "5\t",  # empty item
    f"{INT64_MAX + 1}\t1",  # one past int64
    "99999999999999999999999\t1",  # huge
    "\u0663\t5",  # a non-ASCII digit
    "\x00\x01\x02\t3",  # control bytes
    "nan\tinf",
]
bad_line = st.sampled_from(BAD_LINES)
blank_line = st.sampled_from(["", " ", "\t", "  \t "])


@st.composite
def tsv_file(draw, with_bad: bool) -> tuple[bytes, list[tuple[int, int]], int | None]:
    """``(file bytes, expected pairs, 1-based number of the first bad line or None)``.

    The first non-blank line is always valid (a bad one could read as a header).
    """
    extra = draw(st.sampled_from(EXTRAS))
    line, pair = draw(good_line(extra))
    lines, pairs = [line], [pair]
    first_bad: int | None = None
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["good", "blank", "bad"] if with_bad else ["good", "blank"]))
        if kind == "good":
            line, pair = draw(good_line(extra))
            lines.append(line)
            if first_bad is None:
                pairs.append(pair)
        elif kind == "blank":
            lines.append(draw(blank_line))
        else:
            lines.append(draw(bad_line))
            if first_bad is None:
                first_bad = len(lines)
    if with_bad and first_bad is None:
        lines.append(draw(bad_line))
        first_bad = len(lines)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 2]))
    if draw(st.booleans()):
        text = "\ufeff" + text  # a byte order mark
    return text.encode("utf-8"), pairs, first_bad


def _check_one_line_error(error: InputError, path: Path, lineno: int | None = None) -> None:
    message = str(error)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(str(path))
    if lineno is not None:
        assert message.startswith(f"{path}:{lineno}: "), message


@SETTINGS
@given(tsv_file(with_bad=False))
def test_valid_odd_files_read_exactly_their_pairs(case) -> None:
    content, pairs, _ = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.tsv"
        path.write_bytes(content)
        got = read_interactions(path, id_type="int")
    assert got.dtype == np.int64
    assert got.tolist() == [list(p) for p in pairs]


@SETTINGS
@given(tsv_file(with_bad=True))
def test_malformed_files_name_the_first_bad_line(case) -> None:
    content, _, first_bad = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.tsv"
        path.write_bytes(content)
        with pytest.raises(InputError) as raised:
            read_interactions(path, id_type="int")
    _check_one_line_error(raised.value, path, first_bad)


@SETTINGS
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8")),
        st.text(alphabet="0123456789\t ,\r\n-+.x\ufeff", max_size=200).map(
            lambda t: t.encode("utf-8")
        ),
    ),
    name=st.sampled_from(["train.tsv", "train.csv", "train.txt"]),
)
def test_any_bytes_read_or_fail_with_one_line(content: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        for id_type in ("int", "auto"):
            try:
                pairs = read_interactions(path, id_type=id_type)
            except InputError as error:
                _check_one_line_error(error, path)
            else:
                assert pairs.ndim == 2 and pairs.shape[1] == 2 and len(pairs) > 0
                if id_type == "int":
                    assert pairs.dtype == np.int64 and pairs.min() >= 0


@SETTINGS
@given(tsv_file(with_bad=True))
def test_a_bad_test_file_is_named_too(case) -> None:
    content, _, first_bad = case
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "train.tsv").write_text("0\t1\n1\t2\n")
        (Path(folder) / "test.tsv").write_bytes(content)
        with pytest.raises(InputError) as raised:
            load_data_dir(folder, id_type="int")
    _check_one_line_error(raised.value, Path(folder) / "test.tsv", first_bad)


@SETTINGS
@given(test=st.binary(max_size=100))
def test_any_test_file_loads_its_pairs_or_fails_with_one_line(test: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "train.tsv").write_text("0\t1\n1\t2\n")
        path = Path(folder) / "test.tsv"
        path.write_bytes(test)
        try:
            pairs = read_interactions(path, id_type="int")
        except InputError as error:
            # The data folder fails on the same file, with the same one line.
            with pytest.raises(InputError) as raised:
                load_data_dir(folder, id_type="int")
            assert str(raised.value) == str(error)
            _check_one_line_error(raised.value, path)
        else:
            loaded = load_data_dir(folder, id_type="int")
            assert loaded.test.nnz <= len(pairs)  # test pairs of unknown ids may be dropped


@settings(SETTINGS, max_examples=15)
@given(case=tsv_file(with_bad=True), which=st.sampled_from(["train.tsv", "test.tsv"]))
def test_command_line_exits_2_with_one_line(case, which: str, capsys) -> None:
    content, _, first_bad = case
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        data.mkdir()
        (data / "train.tsv").write_text("0\t1\n1\t2\n2\t0\n")
        (data / "test.tsv").write_text("0\t2\n")
        (data / which).write_bytes(content)
        argv = ["train", "--data-dir", str(data), "--id-type", "int", "--epochs", "1", "--dim", "4"]
        status = cli.main([*argv, "--output", str(Path(folder) / "run")])
        assert not (Path(folder) / "run").exists()
    out, err = capsys.readouterr()
    assert status == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"tfdirectspec: error: {data / which}:{first_bad}: "), err


@pytest.mark.parametrize(
    "content",
    [b"", b"\n\n \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n", b"user\titem\n"],
    ids=["empty", "blank-lines", "bom-only", "bom-crlf", "header-only"],
)
def test_files_without_pairs_say_so(tmp_path, content: bytes) -> None:
    path = tmp_path / "train.tsv"
    path.write_bytes(content)
    with pytest.raises(InputError, match="no interactions"):
        read_interactions(path)
