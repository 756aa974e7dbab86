"""CSV and TSV logs through one parser, pyarrow's CSV reader (multi-threaded C++).

What a file may hold:

* RFC 4180 fields: ``"a ""quoted"", id"`` reads as ``a "quoted", id`` (quotes never stay
  in an id; a quoted field holds no line break); fields are stripped of whitespace;
* every record with the same number of fields (the first record's); empty and
  whitespace-only lines, and lines of separators only, are skipped; a UTF-8 BOM, CRLF;
* an optional header, detected (see :func:`has_header`) or forced with ``header``;
* the user, item and optional time columns picked by :class:`ColumnChoice`.

Integer logs take a fast path: when a sample of the ids is all integers, Arrow converts
them to ``int64`` as it parses (no strings are made; 8M pairs in ~1.7 s); anything it
cannot take that way is read again as strings, which are then checked. Errors are one
line naming the file and line: ``log.csv:7: expected 3 fields, got 2``.

Example:
    >>> from tfdirectspec.data.log_schema import ColumnChoice
    >>> text = b'user_id,item_id\\n"u1","b, 2"\\n'
    >>> log = read_delimited("mem.csv", text, ",", ColumnChoice.parse("user_id,item_id"))
    >>> log.users.to_pylist(), log.items.to_pylist()
    (['u1'], ['b, 2'])
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from tfdirectspec.data.byte_scan import count_byte, release_arrow_memory
from tfdirectspec.data.log_schema import (
    ColumnChoice,
    LogColumns,
    epoch_seconds,
    first_bad_int,
    first_bad_time,
    typed_ids,
)
from tfdirectspec.errors import InputError

#: Characters Python's ``str.strip()`` removes (``str.isspace``), for ``utf8_trim``.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: Bytes per block of the CSV reader (its unit of parallelism and of the output chunks).
BLOCK_BYTES = 16 << 20
#: Bytes of the file's start used to detect its header and the type of its ids.
SAMPLE_BYTES = 1 << 20
#: First-row values that name a column rather than hold an id.
HEADER_WORDS = frozenset(
    {
        "user", "item", "users", "items", "user_id", "item_id", "userid", "itemid", "uid",
        "iid", "customer", "product", "customer_id", "product_id", "client", "article",
        "session", "time", "timestamp", "ts", "date", "datetime", "rating", "event_time",
    }
)  # fmt: skip
# Bytes that make Arrow's int64 parse laxer than a non-negative decimal integer
# (it reads "-0" as 0 and "0x10" as 16): such text takes the checked string path.
_NOT_FOR_INT = (b"-", b"x", b"X")
_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")
_INT64_MAX = int(np.iinfo(np.int64).max)


def read_delimited(
    path: Any,
    buf: bytes,
    sep: str,
    choice: ColumnChoice,
    id_type: str = "auto",
    header: bool | None = None,
) -> LogColumns:
    """The chosen columns of a CSV/TSV text (``buf``, already checked to be UTF-8).

    Args:
        path: the file, for messages.
        buf: its bytes.
        sep: ``","`` or ``"\\t"``.
        choice: which columns are the user, item and time.
        id_type: ``"auto"``, ``"int"`` or ``"str"`` (see
            :func:`~tfdirectspec.data.log_schema.typed_ids`).
        header: ``True``/``False`` forces; ``None`` detects (:func:`has_header`).

    Raises:
        InputError: naming the file and line (or the column).
    """
    layout = _Layout.of(path, buf, sep, choice, header)
    if layout is None or _first_record(buf, layout.body_start)[0] >= len(buf):
        raise InputError(f"{path}: no interactions")
    fast_int = (
        id_type != "str"
        and layout.sample_ints
        and not any(buf.find(b, layout.body_start) >= 0 for b in _NOT_FOR_INT)
    )
    try:
        columns = _read_body(buf, layout, int_ids=True) if fast_int else None
        if columns is None:
            columns = _read_body(buf, layout, int_ids=False)
    except _OddRowError as odd:
        # Arrow stops at the record with another number of fields before the ids are
        # checked: a bad id on an earlier line is the first error, so read the lines above.
        above = buf[: _line_offset(buf, odd.lineno)] if odd.lineno else b""
        if _first_record(above, layout.body_start)[0] < len(above):
            read_delimited(path, above, sep, choice, id_type, layout.header)
        raise InputError(str(odd)) from None
    users, items, times, dropped = columns
    if len(users) == 0:
        raise InputError(f"{path}: no interactions")
    where = _Locator(path, buf, layout, dropped)
    if not isinstance(users, np.ndarray):
        users, items = _checked_text_ids(users, items, id_type, where)
    seconds = None if times is None else _checked_seconds(times, where)
    return LogColumns(users, items, seconds)


def _checked_text_ids(users, items, id_type: str, where: _Locator) -> tuple[Any, Any]:
    """Text id columns, checked (no empty id; with ``"int"``, integers) and typed.

    Raises:
        InputError: naming the line of the earliest bad id (on a line, its user first).
    """
    # (row, column, problem): the earliest row is reported, on a row its user first.
    bad: list[tuple[int, int, str]] = []
    for k, (role, column) in enumerate((("user", users), ("item", items))):
        empty = _first_empty(column)
        if empty is not None:
            bad.append((empty, k, f"empty {role} id"))
        row = first_bad_int(column) if id_type == "int" else None
        if row is not None and column[row].as_py().strip():
            shown = _shown(column[row].as_py())
            bad.append((row, k, f"{role} id {shown!r} is not a non-negative integer"))
    if bad:
        row, _, problem = min(bad)
        raise InputError(f"{where.line(row)}: {problem}")
    return typed_ids(users, id_type), typed_ids(items, id_type)


def _checked_seconds(times, where: _Locator) -> np.ndarray:
    """The time column in epoch seconds.

    Raises:
        InputError: naming the line of the first time that is neither epoch seconds nor
            ISO 8601 (or of a column that mixes the two).
    """
    seconds = epoch_seconds(times)
    if seconds is None:
        row = first_bad_time(times)
        raise InputError(
            f"{where.line(row)}: time {_shown(times[row].as_py())!r} is not epoch seconds "
            "or ISO 8601 (or the column mixes the two)"
        )
    return seconds


def has_header(
    first: list[str], rest: list[list[str]], indices: tuple[int, ...], timed: bool
) -> bool:
    """Whether the first record of a text is a header rather than data.

    The rule, on the chosen columns (``indices``: user, item[, time]) of the first
    record and of the records after it in the sample:

    * an id column whose later values are all integers while the first is not;
    * a time column whose later values read as times while the first does not;
    * user and item values that are both column words (``user_id``, ``item``, ...).

    String ids that are not such words cannot be told from a header; ``--header``
    (and ``--no-header``) settle it, as does naming a column in ``--columns``.

    Example:
        >>> has_header(["customer", "product"], [["c1", "p1"]], (0, 1), False)
        True
        >>> has_header(["u1", "i1"], [["u2", "i2"]], (0, 1), False)
        False
        >>> has_header(["a", "b"], [["7", "8"]], (0, 1), False)
        True
    """

    def value(row: list[str], k: int) -> str:
        return row[k] if k < len(row) else ""

    if rest:
        for k in indices[:2]:
            if all(is_int_text(value(row, k)) for row in rest) and not is_int_text(value(first, k)):
                return True
        if timed:
            k = indices[2]
            if all(is_time_text(value(row, k)) for row in rest) and not is_time_text(
                value(first, k)
            ):
                return True
    return all(value(first, k).lower() in HEADER_WORDS for k in indices[:2])


def is_int_text(text: str) -> bool:
    """Whether ``text`` is a non-negative decimal integer that fits int64.

    Example:
        >>> is_int_text("007"), is_int_text("-1"), is_int_text("9" * 19)
        (True, False, False)
    """
    return text.isascii() and text.isdigit() and int(text) <= _INT64_MAX


def is_time_text(text: str) -> bool:
    """Whether ``text`` is epoch seconds or an ISO 8601 date or time.

    Example:
        >>> is_time_text("1704067200"), is_time_text("2024-01-01T10:00Z"), is_time_text("x")
        (True, True, False)
    """
    try:
        float(text)
        return True
    except ValueError:
        pass
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return True
    except ValueError:
        return False


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where the records start, how many fields they have and which ones are read.

    Attributes:
        path: the file, for messages.
        sep: the field separator.
        width: fields per record (the first record's).
        indices: 0-based user, item[, time] columns.
        timed: whether a time column is read.
        body_start: byte offset of the first record after the header.
        body_line: line number of that offset.
        sample_ints: whether the sampled ids are all integers (try the int64 fast path).
        header: whether the first record is a header.
    """

    path: Any
    sep: str
    width: int
    indices: tuple[int, ...]
    timed: bool
    body_start: int
    body_line: int
    sample_ints: bool
    header: bool

    @classmethod
    def of(
        cls, path: Any, buf: bytes, sep: str, choice: ColumnChoice, header: bool | None
    ) -> _Layout | None:
        start = 3 if buf.startswith(b"\xef\xbb\xbf") else 0
        start, lineno = _first_record(buf, start)
        if start >= len(buf):
            return None
        sample = _sample_rows(buf, start, sep)
        if not sample:
            return None
        width = len(sample[0])
        if width < 2:
            raise InputError(f"{path}:{lineno}: expected at least 2 fields, got {width}")
        if header is None:
            header = choice.by_name or has_header(
                sample[0], sample[1:], choice.resolve(None, path, width), choice.time is not None
            )
        names = sample[0] if header else None
        indices = choice.resolve(names, path, width)
        rest = sample[1:] if header else sample
        sample_ints = all(
            is_int_text(row[k]) for row in rest if len(row) == width for k in indices[:2]
        )
        body_start, body_line = start, lineno
        if header:
            end = buf.find(b"\n", start)
            body_start, body_line = (len(buf), lineno + 1) if end < 0 else (end + 1, lineno + 1)
        return cls(
            path=path,
            sep=sep,
            width=width,
            indices=indices,
            timed=choice.time is not None,
            body_start=body_start,
            body_line=body_line,
            sample_ints=sample_ints and bool(rest),
            header=bool(header),
        )


def _first_record(buf: bytes, pos: int) -> tuple[int, int]:
    """Offset and line number of the first line holding more than whitespace."""
    lineno = 1
    while pos < len(buf):
        end = buf.find(b"\n", pos)
        end = len(buf) if end < 0 else end
        if buf[pos:end].strip():
            return pos, lineno
        pos, lineno = end + 1, lineno + 1
    return len(buf), lineno


def _sample_rows(buf: bytes, start: int, sep: str) -> list[list[str]]:
    """The first records (about :data:`SAMPLE_BYTES`), fields stripped, blank lines skipped."""
    end = buf.rfind(b"\n", start, start + SAMPLE_BYTES)
    end = len(buf) if end < 0 or start + SAMPLE_BYTES >= len(buf) else end
    text = buf[start:end].decode("utf-8")
    lines = [line for line in _LINE_END.split(text) if line.strip()]
    rows = [[field.strip() for field in row] for row in csv.reader(lines, delimiter=sep)]
    return [row for row in rows if any(row)]


def _read_body(buf: bytes, layout: _Layout, int_ids: bool) -> tuple | None:
    """``(users, items, times, dropped rows)`` of every record, or ``None`` if int64 fails.

    Integer ids land in preallocated ``int64`` arrays batch by batch; string columns are
    trimmed Arrow chunks. ``dropped`` holds the record numbers of rows whose chosen
    fields are all empty (lines of separators), removed from the columns.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    bound = count_byte(buf, b"\n", layout.body_start) + 1 if int_ids else 0
    ints = np.empty(bound, dtype=np.int64), np.empty(bound, dtype=np.int64)
    chunks: list[list[Any]] = [[], [], []]
    dropped: list[np.ndarray] = []
    filled = records = 0
    odd_rows: list[str] = []
    try:
        for batch in _batches(buf, layout, int_ids, odd_rows):
            if odd_rows:
                break
            columns = [batch.column(k) for k in range(batch.num_columns)]
            if not int_ids:
                columns = [pc.utf8_trim(c, characters=PY_WHITESPACE) for c in columns]
                lengths = [pc.binary_length(c) for c in columns]
                blank = pc.equal(lengths[0], 0)
                for length in lengths[1:]:
                    blank = pc.and_(blank, pc.equal(length, 0))
                if pc.any(blank).as_py():
                    blank_rows = np.flatnonzero(blank.to_numpy(zero_copy_only=False))
                    dropped.append(records + blank_rows)
                    keep = pc.invert(blank)
                    columns = [pc.filter(c, keep) for c in columns]
                for k, column in enumerate(columns):
                    chunks[k].append(column)
            else:
                rows = len(columns[0])
                if columns[0].null_count or columns[1].null_count:
                    return None  # an empty id (or a line of separators): checked as text
                for k in range(2):
                    ints[k][filled : filled + rows] = columns[k].to_numpy()
                if layout.timed:
                    chunks[2].append(columns[2])
                filled += rows
            records += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowKeyError, KeyError) as error:
        if int_ids and "conversion error" in str(error):
            return None
        raise InputError(f"{layout.path}: cannot parse ({_one_line(error)})") from None
    finally:
        release_arrow_memory()
    if odd_rows:
        raise _odd_row_error(buf, layout, odd_rows)
    times = pa.chunked_array(chunks[2], type=pa.string()) if layout.timed else None
    blank_records = np.concatenate(dropped) if dropped else np.empty(0, dtype=np.int64)
    if int_ids:
        return ints[0][:filled], ints[1][:filled], times, blank_records
    users, items = (pa.chunked_array(chunks[k], type=pa.string()) for k in range(2))
    return users, items, times, blank_records


def _batches(buf: bytes, layout: _Layout, int_ids: bool, odd_rows: list[str]) -> Iterator[Any]:
    """Record batches of the chosen columns, in order (user, item[, time])."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def on_invalid_row(row: Any) -> str:
        # A record with another number of fields: fine if blank, else an error.
        if row.text.strip(PY_WHITESPACE + layout.sep):
            odd_rows.append(row.text)
        return "skip"

    names = [f"f{k}" for k in range(layout.width)]
    chosen = [names[k] for k in layout.indices]
    id_kind = pa.int64() if int_ids else pa.string()
    types = {name: pa.string() for name in chosen}
    types.update({name: id_kind for name in chosen[:2]})
    reader = pacsv.open_csv(
        pa.BufferReader(pa.py_buffer(buf).slice(layout.body_start)),
        pacsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES),
        pacsv.ParseOptions(
            delimiter=layout.sep,
            quote_char='"',
            double_quote=True,
            newlines_in_values=False,
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid_row,
        ),
        pacsv.ConvertOptions(
            column_types=types,
            include_columns=chosen,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=False,
        ),
    )
    yield from reader


class _Locator:
    """Turns a row of the read columns into ``path:line`` (only on the error path)."""

    def __init__(self, path: Any, buf: bytes, layout: _Layout, dropped: np.ndarray) -> None:
        self.path, self.buf, self.layout, self.dropped = path, buf, layout, np.sort(dropped)

    def line(self, row: int) -> str:
        record = int(row)
        for blank in self.dropped:  # rows dropped before ``row`` shift it
            if blank <= record:
                record += 1
        for lineno, line in _lines(self.buf, self.layout):
            if _field_count(line, self.layout.sep) == self.layout.width:
                if record == 0:
                    return f"{self.path}:{lineno}"
                record -= 1
        return str(self.path)


def _lines(buf: bytes, layout: _Layout) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of the non-empty lines after the header, as Arrow splits them."""
    text = buf[layout.body_start :].decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    for offset, line in enumerate(_LINE_END.split(text)):
        if line:
            yield layout.body_line + offset, line


def _field_count(line: str, sep: str) -> int:
    return len(next(csv.reader([line], delimiter=sep), []))


class _OddRowError(InputError):
    """A record with another number of fields than the first, at ``lineno`` (if known)."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


def _odd_row_error(buf: bytes, layout: _Layout, odd_rows: list[str]) -> _OddRowError:
    """The error of the first record whose number of fields differs from the first's."""
    odd = set(odd_rows[:1000])
    for lineno, line in _lines(buf, layout):
        if line in odd:
            got = _field_count(line, layout.sep)
            message = f"{layout.path}:{lineno}: expected {layout.width} fields, got {got}"
            return _OddRowError(message, lineno)
    return _OddRowError(f"{layout.path}: a record has another number of fields than the first")


def _line_offset(buf: bytes, lineno: int) -> int:
    """Byte offset where 1-based line ``lineno`` starts (line ends as :data:`_LINE_END`)."""
    line_ends = _LINE_END_BYTES.finditer(buf)
    offset = 0
    for _ in range(lineno - 1):
        end = next(line_ends, None)
        if end is None:
            return len(buf)
        offset = end.end()
    return offset


def _first_empty(column: Any) -> int | None:
    import pyarrow.compute as pc

    empty = pc.equal(pc.binary_length(column), 0)
    return pc.index(empty, True).as_py() if pc.any(empty).as_py() else None


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."
