"""Readers of interaction logs: CSV, TSV, Parquet and LightGCN text, into raw id columns.

Supported layouts:

* CSV / TSV: one record per line, RFC 4180 quoting, an optional header (detected, or
  forced with ``header``), the user, item and optional time columns chosen by
  ``columns`` (:class:`~tfdirectspec.data.log_schema.ColumnChoice`; default: the first
  two). One parser reads both, pyarrow's CSV reader (:mod:`tfdirectspec.data.delimited`).
* Parquet: see :mod:`tfdirectspec.data.parquet` (the same column choice and id types).
* LightGCN text: ``user item item ...`` separated by whitespace, one user per line;
  a line holding only a user is allowed and contributes no pair. Integer text takes a
  chunked byte-level parse (:mod:`tfdirectspec.data.int_text`), anything else a
  validating line parser that names the first bad line.

Ids are integers when every id is a non-negative integer and strings otherwise
(``id_type="auto"``, the default); ``"int"`` and ``"str"`` force one. Errors are
:class:`~tfdirectspec.errors.InputError`\\ s of one line naming the file and line.
:func:`read_log` gives the columns with the times, :func:`read_columns` the two id
columns, :func:`read_interactions` the ``[n, 2]`` array of the same ids.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any

import numpy as np

from tfdirectspec.data.int_text import int_columns
from tfdirectspec.data.log_schema import ColumnChoice, LogColumns, check_id_type
from tfdirectspec.errors import InputError

#: Accepted values of ``fmt`` (``"txt"`` is an alias of ``"lightgcn"``).
FORMATS = ("auto", "tsv", "csv", "lightgcn", "txt", "parquet")

_SEPARATORS = {"tsv": "\t", "csv": ","}
_EXTENSIONS = {".tsv": "tsv", ".csv": "csv", ".txt": "lightgcn", ".parquet": "parquet"}
_PARQUET_MAGIC = b"PAR1"
_INT64_MAX = np.iinfo(np.int64).max


def read_interactions(
    path: str | os.PathLike, fmt: str = "auto", id_type: str = "auto"
) -> np.ndarray:
    """Reads a file of user-item interactions into one ``[n, 2]`` array.

    Args:
        path: the file to read.
        fmt: see :func:`read_columns`.
        id_type: ``"auto"`` (integers if every id is one), ``"int"`` or ``"str"``.

    Returns:
        An array of shape ``[n, 2]`` of raw ``(user, item)`` ids in file order: ``int64``
        for integer ids, a numpy string array otherwise. Duplicates are kept.

    Raises:
        InputError: see :func:`read_columns`.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "train.csv").write_text("user,item,rating\\n7,15336,5\\n7,13924,3\\n")
        >>> read_interactions(folder / "train.csv")
        array([[    7, 15336],
               [    7, 13924]])
        >>> _ = (folder / "train.txt").write_text("0 5 9\\n1 5\\n")  # LightGCN text
        >>> read_interactions(folder / "train.txt").tolist()
        [[0, 5], [0, 9], [1, 5]]
        >>> _ = (folder / "bad.tsv").write_text("0\\t5\\nx\\t6\\n")
        >>> read_interactions(folder / "bad.tsv", id_type="int")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfdirectspec.errors.InputError: .../bad.tsv:2: user id 'x' is not a non-negative integer
    """
    users, items = read_columns(path, fmt, id_type)
    if isinstance(users, np.ndarray) and users.dtype.kind in "iu":
        return np.stack([users, items], axis=1)
    return np.stack([_numpy_strings(users), _numpy_strings(items)], axis=1)


def read_columns(
    path: str | os.PathLike,
    fmt: str = "auto",
    id_type: str = "auto",
    columns: str | ColumnChoice | None = None,
    header: bool | None = None,
) -> tuple[Any, Any]:
    """Reads a file of user-item interactions into a user column and an item column.

    Args:
        path, fmt, id_type, columns, header: see :func:`read_log`.

    Returns:
        ``(users, items)`` of equal length in file order, duplicates kept: ``int64`` numpy
        arrays for integer ids; pyarrow (or numpy) string arrays otherwise, ready for
        :func:`~tfdirectspec.data.interactions.from_columns`.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "train.tsv"
        >>> _ = path.write_text("7\\t15\\n8\\t15\\n")
        >>> users, items = read_columns(path)
        >>> users.tolist(), items.tolist()
        ([7, 8], [15, 15])
        >>> [column.to_pylist() for column in read_columns(path, id_type="str")]
        [['7', '8'], ['15', '15']]
    """
    log = read_log(path, fmt, id_type, columns, header)
    return log.users, log.items


# Long by its docstring only (the errors it raises): the body dispatches on the format.
def read_log(
    path: str | os.PathLike,
    fmt: str = "auto",
    id_type: str = "auto",
    columns: str | ColumnChoice | None = None,
    header: bool | None = None,
) -> LogColumns:
    """Reads an interaction log: its user, item and (if chosen) time columns.

    Args:
        path: the file to read.
        fmt: ``"tsv"``, ``"csv"``, ``"lightgcn"`` (alias ``"txt"``), ``"parquet"`` or
            ``"auto"``, which picks from the extension (``.tsv``, ``.csv``, ``.txt``,
            ``.parquet``; a ``.txt`` whose first non-blank line has a comma is CSV) and
            otherwise from the content (Parquet's magic bytes; a tab in the first
            non-blank line means TSV, a comma CSV, else LightGCN text).
        id_type: ``"auto"`` (integers if every id is a non-negative integer, else
            strings), ``"int"`` (an error names the first id that is not) or ``"str"``.
        columns: ``"USER,ITEM[,TIME]"`` as header names or 0-based indices (or a
            :class:`~tfdirectspec.data.log_schema.ColumnChoice`); ``None``: the first two
            columns (Parquet: ``user``/``item`` by name if present).
        header: CSV/TSV only: ``True``/``False`` forces whether the first record is a
            header; ``None`` detects it (:func:`~tfdirectspec.data.delimited.has_header`).

    Returns:
        The :class:`~tfdirectspec.data.log_schema.LogColumns`, records in file order,
        duplicates kept; ``times`` in epoch seconds when a time column was chosen.

    Raises:
        InputError: a missing or unreadable file, a malformed line
            (``"{path}:{lineno}: expected 2 fields, got 1"``), a bad id
            (``"{path}:{lineno}: user id 'abc' is not a non-negative integer"`` with
            ``id_type="int"``), a missing column (``"{path}: --columns: no column
            'ts' ..."``), a bad Parquet column, or a file without any pair
            (``"{path}: no interactions"``).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = path.write_text('user_id,item_id,ts\\n"u1",i1,2024-01-02\\n"u1",i2,2024-01-01\\n')
        >>> log = read_log(path, columns="user_id,item_id,ts")
        >>> log.users.to_pylist(), log.times.tolist()
        (['u1', 'u1'], [1704153600.0, 1704067200.0])
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    check_id_type(id_type)
    choice = columns if isinstance(columns, ColumnChoice) else ColumnChoice.parse(columns)
    _check_file(path)
    if fmt == "parquet" or (fmt == "auto" and _looks_like_parquet(path)):
        from tfdirectspec.data.parquet import read_parquet_log

        return read_parquet_log(path, choice if columns else None, id_type)
    buf = _read_bytes(path)
    fmt = _resolve_format(path, fmt, buf)
    if not buf.isascii():
        _check_utf8(buf, path)
    sep = _SEPARATORS.get(fmt)
    if sep is not None:
        from tfdirectspec.data.delimited import read_delimited

        return read_delimited(path, buf, sep, choice, id_type, header)
    if columns:
        raise InputError(f"{path}: --columns applies to CSV, TSV and Parquet, not LightGCN text")
    log = _read_lightgcn(buf, path, id_type)
    if len(log) == 0:
        raise InputError(f"{path}: no interactions")
    return log


def _read_lightgcn(buf: bytes, path: str | os.PathLike, id_type: str) -> LogColumns:
    """LightGCN text: the fast integer parse, else the validating line parser."""
    columns = int_columns(buf, None) if id_type != "str" else None
    if columns is not None:
        return LogColumns(*columns)
    body = _decode(buf, path)
    del buf
    try:
        pairs = _parse_lines(body, path, None, "str" if id_type == "str" else "int", 1)
    except InputError:
        if id_type != "auto":
            raise
        pairs = _parse_lines(body, path, None, "str", 1)
    return LogColumns(pairs[:, 0], pairs[:, 1])


def _numpy_strings(column: Any) -> np.ndarray:
    """A numpy string array of a pyarrow or numpy column of strings."""
    if isinstance(column, np.ndarray):
        return column.astype(str, copy=False)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=str)


def _check_file(path: str | os.PathLike) -> None:
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path}: is a directory, expected a file")
    if not p.exists():
        raise InputError(f"{path}: no such file")


def _looks_like_parquet(path: str | os.PathLike) -> bool:
    """A ``.parquet`` name, or Parquet's magic bytes in a file without a known extension."""
    suffix = Path(path).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix] == "parquet"
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_PARQUET_MAGIC)) == _PARQUET_MAGIC
    except OSError:
        return False  # reported with the file's other read errors


def _read_bytes(path: str | os.PathLike) -> bytes:
    """Returns the file's bytes, turning OS errors into one-line ``InputError``s."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path}: is a directory, expected a file")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None


def _decode(buf: bytes, path: str | os.PathLike) -> str:
    """Decodes UTF-8 (an optional BOM is dropped), naming the line of a bad byte."""
    try:
        return buf.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        lineno = buf.count(b"\n", 0, error.start) + 1
        raise InputError(f"{path}:{lineno}: not valid UTF-8 text") from None


def _check_utf8(buf: bytes, path: str | os.PathLike, chunk_bytes: int = 16 << 20) -> None:
    """Raises like :func:`_decode` on invalid UTF-8, decoding chunk by chunk (no full copy)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(buf)
    try:
        for start in range(0, len(buf), chunk_bytes):
            decoder.decode(view[start : start + chunk_bytes])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        _decode(buf, path)
        raise


def _resolve_format(path: str | os.PathLike, fmt: str, buf: bytes) -> str:
    """Maps ``auto`` and aliases to one of ``tsv``, ``csv`` or ``lightgcn``."""
    if fmt == "txt":
        return "lightgcn"
    if fmt != "auto":
        return fmt
    by_extension = _EXTENSIONS.get(Path(path).suffix.lower())
    if by_extension in ("tsv", "csv"):
        return by_extension
    first = _first_line(buf, path)
    # A comma is never valid LightGCN text, so a .txt with commas is taken for CSV.
    if by_extension == "lightgcn" and "," in first:
        return "csv"
    if by_extension is not None:
        return by_extension
    if "\t" in first:
        return "tsv"
    if "," in first:
        return "csv"
    return "lightgcn"


def _first_line(buf: bytes, path: str | os.PathLike) -> str:
    """The first non-blank line (``""`` if none), decoding only the lines before it."""
    pos = 0
    while pos < len(buf):
        end = buf.find(b"\n", pos)
        end = len(buf) if end < 0 else end
        line = _decode_line(buf, pos, end, path)
        if line.strip():
            return line
        pos = end + 1
    return ""


def _decode_line(buf: bytes, pos: int, end: int, path: str | os.PathLike) -> str:
    try:
        return buf[pos:end].decode("utf-8-sig" if pos == 0 else "utf-8")
    except UnicodeDecodeError:
        _decode(buf, path)  # raises, naming the line
        raise


def _parse_lines(
    text: str, path: str | os.PathLike, sep: str | None, id_type: str, first_lineno: int
) -> np.ndarray:
    """The validating parser: reads every line or raises naming the first bad one.

    ``sep`` is the field separator of TSV/CSV, or ``None`` for LightGCN text.
    """
    users: list = []
    items: list = []
    parse = _parse_int_id if id_type == "int" else _parse_str_id
    for lineno, line in enumerate(text.split("\n"), start=first_lineno):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        if sep is None:
            tokens = line.split()
            user = parse(tokens[0], "user", where)
            for token in tokens[1:]:
                users.append(user)
                items.append(parse(token, "item", where))
            continue
        fields = line.split(sep)
        if len(fields) < 2:
            raise InputError(f"{where}: expected at least 2 fields, got {len(fields)}")
        users.append(parse(fields[0].strip(), "user", where))
        items.append(parse(fields[1].strip(), "item", where))
    dtype = np.int64 if id_type == "int" else str
    if not users:
        return np.empty((0, 2), dtype=dtype)
    return np.stack([np.asarray(users, dtype=dtype), np.asarray(items, dtype=dtype)], axis=1)


def _parse_int_id(token: str, role: str, where: str) -> int:
    # ASCII digits only: str.isdigit alone would also accept e.g. superscripts.
    if token.isascii() and token.isdigit():
        value = int(token)
        if value <= _INT64_MAX:
            return value
    shown = token if len(token) <= 40 else token[:37] + "..."
    raise InputError(f"{where}: {role} id {shown!r} is not a non-negative integer")


def _parse_str_id(token: str, role: str, where: str) -> str:
    if not token:
        raise InputError(f"{where}: empty {role} id")
    return token
