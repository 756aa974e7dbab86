"""Readers of interaction files: TSV, CSV, LightGCN text and Parquet, into raw id columns.

Supported layouts (blank lines are skipped everywhere):

* TSV / CSV: ``user<sep>item[<sep>extra...]``; extra columns are ignored. A header line
  such as ``user,item`` is skipped when it is the first non-blank line and neither of
  its first two fields is an integer (with ``id_type="str"`` the two fields must be
  header words such as ``user``/``item``, since any text could be a string id).
* LightGCN text: ``user item item ...`` separated by whitespace, one user per line;
  a line holding only a user is allowed and contributes no pair.
* Parquet: see :mod:`tfdirectspec.data.parquet`.

Text takes a fast path when it can: TSV/CSV pyarrow's CSV reader
(:mod:`tfdirectspec.data.arrow_text`; string ids stay Arrow strings, never Python
objects), integer files it declines and LightGCN text a chunked byte-level parse
(:mod:`tfdirectspec.data.int_text`, bounded memory). Whatever the fast paths do not fully
recognise goes through a validating line-by-line parser, which either reads the file
or raises :class:`~tfdirectspec.errors.InputError` naming the file and line.
:func:`read_columns` gives the columns, :func:`read_interactions` the ``[n, 2]`` array
of the same ids.
"""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from tfdirectspec.data.int_text import int_columns
from tfdirectspec.errors import InputError

#: Accepted values of ``fmt`` (``"txt"`` is an alias of ``"lightgcn"``).
FORMATS = ("auto", "tsv", "csv", "lightgcn", "txt", "parquet")
#: Accepted values of ``id_type``.
ID_TYPES = ("int", "str")

_SEPARATORS = {"tsv": "\t", "csv": ","}
_EXTENSIONS = {".tsv": "tsv", ".csv": "csv", ".txt": "lightgcn", ".parquet": "parquet"}
_PARQUET_MAGIC = b"PAR1"
_SIGNED_INT = re.compile(r"[+-]?[0-9]+")
# Words that mark a header line when ids are strings (then "not an integer" proves nothing).
_HEADER_WORDS = frozenset(
    {"user", "item", "users", "items", "user_id", "item_id", "userid", "itemid", "uid", "iid"}
)
_INT64_MAX = np.iinfo(np.int64).max


def read_interactions(
    path: str | os.PathLike, fmt: str = "auto", id_type: str = "int"
) -> np.ndarray:
    """Reads a file of user-item interactions into one ``[n, 2]`` array.

    Args:
        path: the file to read.
        fmt: see :func:`read_columns`.
        id_type: ``"int"`` (ids must be non-negative integers) or ``"str"`` (any text).

    Returns:
        An array of shape ``[n, 2]`` of raw ``(user, item)`` ids in file order: ``int64``
        for ``id_type="int"``, a numpy string array otherwise. Duplicates are kept.

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
        >>> read_interactions(folder / "bad.tsv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfdirectspec.errors.InputError: .../bad.tsv:2: user id 'x' is not a non-negative integer
    """
    users, items = read_columns(path, fmt, id_type)
    if id_type == "int":
        return np.stack([users, items], axis=1)
    return np.stack([_numpy_strings(users), _numpy_strings(items)], axis=1)


def read_columns(
    path: str | os.PathLike, fmt: str = "auto", id_type: str = "int"
) -> tuple[Any, Any]:
    """Reads a file of user-item interactions into a user column and an item column.

    Args:
        path: the file to read.
        fmt: ``"tsv"``, ``"csv"``, ``"lightgcn"`` (alias ``"txt"``), ``"parquet"`` or
            ``"auto"``, which picks from the extension (``.tsv``, ``.csv``, ``.txt``,
            ``.parquet``; a ``.txt`` whose first non-blank line has a comma is CSV) and
            otherwise from the content (Parquet's magic bytes; a tab in the first
            non-blank line means TSV, a comma CSV, else LightGCN text).
        id_type: ``"int"`` (ids must be non-negative integers) or ``"str"`` (any text).

    Returns:
        ``(users, items)`` of equal length in file order, duplicates kept: ``int64`` numpy
        arrays for ``id_type="int"``; for ``"str"``, pyarrow string arrays (or numpy
        string arrays from the validating parser), ready for
        :func:`~tfdirectspec.data.interactions.from_columns`.

    Raises:
        InputError: a missing or unreadable file, a malformed line
            (``"{path}:{lineno}: expected at least 2 fields, got 1"``), a bad id
            (``"{path}:{lineno}: user id 'abc' is not a non-negative integer"``), a bad
            Parquet column (``"{path}: column 'user' row 3: id -2 is not a non-negative
            integer"``) or a file without any pair (``"{path}: no interactions"``).

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
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if id_type not in ID_TYPES:
        raise InputError(f"unknown id type {id_type!r} (known: {', '.join(ID_TYPES)})")
    _check_file(path)
    if fmt == "parquet" or (fmt == "auto" and _looks_like_parquet(path)):
        from tfdirectspec.data.parquet import read_parquet_columns

        return read_parquet_columns(path, id_type)
    buf = _read_bytes(path)
    fmt = _resolve_format(path, fmt, buf)
    sep = _SEPARATORS.get(fmt)
    body_start, first_lineno = 0, 1
    if sep is not None:
        body_start, first_lineno = _skip_header(buf, sep, id_type, path)
    columns = None
    if sep is not None:
        from tfdirectspec.data.arrow_text import arrow_columns

        if not buf.isascii():
            _check_utf8(buf, path)
        columns = arrow_columns(buf, sep, id_type, begin=body_start)
    if columns is None and id_type == "int":
        columns = int_columns(buf, sep, begin=body_start)
    if columns is None:
        _decode(buf, path)  # the first bad byte is reported before any bad line
        body = buf[body_start:].decode("utf-8-sig" if body_start == 0 else "utf-8")
        del buf
        pairs = _parse_lines(body, path, sep, id_type, first_lineno)
        columns = pairs[:, 0], pairs[:, 1]
    if len(columns[0]) == 0:
        raise InputError(f"{path}: no interactions")
    return columns


def _fast_int_pairs(buf: bytes, sep: str | None) -> np.ndarray | None:
    """The fast integer parse as one ``[n, 2]`` array, or ``None`` (see ``int_columns``)."""
    columns = int_columns(buf, sep)
    return None if columns is None else np.stack(columns, axis=1)


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


def _skip_header(buf: bytes, sep: str, id_type: str, path: str | os.PathLike) -> tuple[int, int]:
    """Finds a header on the first non-blank line.

    Returns:
        ``(byte offset where the data starts, line number of that offset)``;
        ``(0, 1)`` when there is no header.
    """
    pos, lineno = 0, 1
    while pos < len(buf):
        end = buf.find(b"\n", pos)
        end = len(buf) if end < 0 else end
        line = _decode_line(buf, pos, end, path)
        if line.strip():
            fields = [f.strip() for f in line.split(sep)]
            if len(fields) >= 2 and _is_header(fields[0], fields[1], id_type):
                return end + 1, lineno + 1
            return 0, 1
        pos, lineno = end + 1, lineno + 1
    return 0, 1


def _is_header(first: str, second: str, id_type: str) -> bool:
    if id_type == "str":
        return first.lower() in _HEADER_WORDS and second.lower() in _HEADER_WORDS
    return not _SIGNED_INT.fullmatch(first) and not _SIGNED_INT.fullmatch(second)


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
