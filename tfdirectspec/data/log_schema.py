"""What a log's columns mean: which columns to take, the type of its ids, its time column.

Shared by every tabular reader (CSV, TSV, Parquet), which first turn a file into Arrow
columns and then hand them here:

* :class:`ColumnChoice` parses ``--columns USER,ITEM[,TIME]`` (header names or 0-based
  indices) and finds those columns among a file's names;
* :func:`typed_ids` makes a user or item column integer ``int64`` ids or strings:
  ``id_type="auto"`` gives integers when every id is a non-negative decimal integer and
  strings otherwise, ``"int"`` and ``"str"`` force one;
* :func:`epoch_seconds` reads a time column (epoch seconds, or ISO 8601 dates and times,
  naive ones taken as UTC) as ``float64`` seconds since 1970-01-01 UTC.

Errors name the column and the first bad row (0-based among the file's records); the
text readers turn that row into a line number.

Example:
    >>> import pyarrow as pa
    >>> choice = ColumnChoice.parse("user_id,item_id,timestamp")
    >>> choice.resolve(["item_id", "user_id", "timestamp"], "log.csv")
    (1, 0, 2)
    >>> typed_ids(pa.array(["7", "007"]), "auto").tolist()
    [7, 7]
    >>> typed_ids(pa.array(["7", "u8"]), "auto").to_pylist()
    ['7', 'u8']
    >>> epoch_seconds(pa.array(["1970-01-02", "86400.5"])) is None  # one format per column
    True
    >>> epoch_seconds(pa.array(["1970-01-02", "1970-01-01T00:01:00Z"])).tolist()
    [86400.0, 60.0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfdirectspec.errors import InputError

#: Accepted values of ``id_type`` (``auto``: integers if every id is one, else strings).
ID_TYPES = ("auto", "int", "str")
#: Non-negative decimal integers that always fit int64 (19 digits may not).
INT_PATTERN = r"^[0-9]{1,18}$"
# An ISO 8601 time that carries its own zone: 'Z' or an offset after the time of day.
_ZONED = r"[T ].*([Zz]|[+-][0-9]{2}:?[0-9]{2})$"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_INT64_MAX = int(np.iinfo(np.int64).max)


@dataclasses.dataclass(frozen=True)
class ColumnChoice:
    """The user, item and optional time column of a log, by header name or 0-based index.

    Attributes:
        user: a header name or a 0-based index.
        item: a header name or a 0-based index.
        time: a header name, a 0-based index or ``None`` (no time column).

    Example:
        >>> ColumnChoice.parse("0,2")
        ColumnChoice(user=0, item=2, time=None)
        >>> ColumnChoice.parse("customer,product").by_name
        True
    """

    user: str | int = 0
    item: str | int = 1
    time: str | int | None = None

    @classmethod
    def parse(cls, text: str | None) -> ColumnChoice:
        """``"USER,ITEM[,TIME]"`` (names or indices); ``None`` or ``""`` gives columns 0 and 1.

        Raises:
            InputError: not two or three non-empty entries, or a negative index.
        """
        if not text:
            return cls()
        parts = [part.strip() for part in str(text).split(",")]
        if len(parts) not in (2, 3) or not all(parts):
            raise InputError(f"--columns: expected USER,ITEM[,TIME], got {text!r}")
        keys = [int(part) if part.lstrip("-").isdigit() else part for part in parts]
        if any(isinstance(key, int) and key < 0 for key in keys):
            raise InputError(f"--columns: indices are 0-based and >= 0, got {text!r}")
        return cls(*keys)

    @property
    def keys(self) -> tuple[str | int, ...]:
        """``(user, item)`` or ``(user, item, time)``."""
        return (self.user, self.item) if self.time is None else (self.user, self.item, self.time)

    @property
    def by_name(self) -> bool:
        """Whether any column is given by name (then the file must have a header)."""
        return any(isinstance(key, str) for key in self.keys)

    def resolve(self, names: Sequence[str] | None, path: Any, width: int | None = None) -> tuple:
        """0-based indices of the chosen columns among ``names`` (a header) or ``width`` columns.

        Raises:
            InputError: a name the header lacks, an index past the last column, a name
                without a header, or the same column chosen twice; naming the file.
        """
        count = len(names) if names is not None else width
        indices = []
        for role, key in zip(("user", "item", "time"), self.keys, strict=False):
            if isinstance(key, int):
                if count is not None and key >= count:
                    raise InputError(
                        f"{path}: --columns: {role} column index {key} is past the last "
                        f"column ({count} columns)"
                    )
                indices.append(key)
                continue
            if names is None:
                raise InputError(
                    f"{path}: --columns: {role} column {key!r} is a name but the file "
                    "has no header (give a 0-based index, or --header)"
                )
            matches = [k for k, name in enumerate(names) if name == key]
            if not matches:
                folded = [k for k, name in enumerate(names) if name.lower() == key.lower()]
                matches = folded if len(folded) == 1 else []
            if not matches:
                raise InputError(
                    f"{path}: --columns: no column {key!r} (the header has "
                    f"{', '.join(repr(n) for n in names)})"
                )
            indices.append(matches[0])
        if len(set(indices)) != len(indices):
            raise InputError(f"{path}: --columns: a column is chosen twice ({self.keys})")
        return tuple(indices)


def check_id_type(id_type: str) -> str:
    """``id_type`` if it is one of :data:`ID_TYPES`, else a one-line ``InputError``."""
    if id_type not in ID_TYPES:
        raise InputError(f"unknown id type {id_type!r} (known: {', '.join(ID_TYPES)})")
    return id_type


def first_bad_int(column: Any) -> int | None:
    """Row of the first value of a string column that is not a non-negative int64, or None.

    Example:
        >>> import pyarrow as pa
        >>> first_bad_int(pa.array(["1", "2", "x"])), first_bad_int(pa.array(["1"]))
        (2, None)
    """
    import pyarrow.compute as pc

    head = 4096  # string ids usually show in the first rows: no pass over all of them
    if len(column) > head:
        found = first_bad_int(column.slice(0, head))
        if found is not None:
            return found
    is_int = pc.match_substring_regex(column, INT_PATTERN)
    bad = pc.invert(is_int)
    if pc.any(bad).as_py():
        row = pc.index(bad, True).as_py()
    else:
        return None
    # 19 digits fit when the value is at most int64's largest.
    text = column[row].as_py()
    if text.isascii() and text.isdigit() and int(text) <= _INT64_MAX:
        rest = first_bad_int(column.slice(row + 1))
        return None if rest is None else row + 1 + rest
    return row


def all_ints(column: Any) -> bool:
    """Whether every value of a string column is a non-negative decimal int64."""
    return first_bad_int(column) is None


def typed_ids(column: Any, id_type: str) -> Any:
    """A column of raw ids, as ``int64`` numpy ids or Arrow strings.

    Args:
        column: Arrow strings (already stripped) or integers.
        id_type: ``"auto"``: integers when every id is a non-negative decimal integer,
            else the strings; ``"int"``: integers (the caller checked them, see
            :func:`first_bad_int`); ``"str"``: strings (integers as decimal text).
    """
    import pyarrow as pa

    if pa.types.is_integer(column.type):
        return column.cast(pa.string()) if id_type == "str" else _int64_numpy(column)
    if id_type == "str" or (id_type == "auto" and not all_ints(column)):
        return column
    return _int64_numpy(column.cast(pa.int64()))


def _int64_numpy(column: Any) -> np.ndarray:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column.cast(pa.int64()).to_numpy(zero_copy_only=False)


def epoch_seconds(column: Any) -> np.ndarray | None:
    """A time column as ``float64`` seconds since the epoch, or ``None`` if it is not one.

    Accepts Arrow timestamps, dates, numbers (epoch seconds) and strings that are all
    numbers or all ISO 8601 (``2024-05-01``, ``2024-05-01T10:00:00``, ``...Z``,
    ``...+02:00``; a naive time is UTC).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        micros = column.cast(pa.timestamp("us", tz=getattr(kind, "tz", None)))
        return micros.cast(pa.int64()).to_numpy(zero_copy_only=False) / 1e6
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    if len(column) == 0:
        return np.empty(0, dtype=np.float64)
    if pc.all(pc.match_substring_regex(column, _NUMBER)).as_py():
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    zoned = pc.match_substring_regex(column, _ZONED)
    out = np.empty(len(column), dtype=np.float64)
    for mask, target in ((zoned, pa.timestamp("us", tz="UTC")), (pc.invert(zoned), None)):
        target = target or pa.timestamp("us")
        rows = np.flatnonzero(_numpy_bool(mask))
        if rows.size == 0:
            continue
        try:
            values = pc.filter(column, mask).cast(target)
        except pa.ArrowInvalid:
            return None
        out[rows] = values.cast(pa.int64()).to_numpy(zero_copy_only=False) / 1e6
    return out


def first_bad_time(column: Any) -> int:
    """The first row :func:`epoch_seconds` cannot read, or the first whose format (number
    or ISO 8601) differs from row 0's.

    Example:
        >>> import pyarrow as pa
        >>> first_bad_time(pa.array(["2024-01-01", "soon"]))
        1
        >>> first_bad_time(pa.array(["1", "2024-01-01"]))  # each reads, not both as one column
        1
    """
    texts = [str(value) for value in column.to_pylist()]
    for row, text in enumerate(texts):
        if epoch_seconds(_one_string(text)) is None:
            return row
    numeric = [_is_number_text(text) for text in texts]
    return next((row for row, flag in enumerate(numeric) if flag != numeric[0]), 0)


def _one_string(text: str) -> Any:
    import pyarrow as pa

    return pa.array([text], type=pa.string())


def parse_time(text: str, what: str = "--cutoff") -> float:
    """One time (epoch seconds or ISO 8601) as epoch seconds.

    Example:
        >>> parse_time("2024-01-01"), parse_time("1704067200")
        (1704067200.0, 1704067200.0)
    """
    import pyarrow as pa

    seconds = epoch_seconds(pa.array([str(text).strip()]))
    if seconds is None:
        raise InputError(
            f"{what}: {text!r} is not a time (give ISO 8601, e.g. 2024-05-01, or epoch seconds)"
        )
    return float(seconds[0])


def _is_number_text(value: Any) -> bool:
    import re

    return bool(re.fullmatch(_NUMBER[1:-1], str(value)))


def _numpy_bool(mask: Any) -> np.ndarray:
    import pyarrow as pa

    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return mask.to_numpy(zero_copy_only=False)


@dataclasses.dataclass(frozen=True)
class LogColumns:
    """The columns a reader gives: raw user and item ids, and times if the log has them.

    Attributes:
        users: ``int64`` numpy ids or Arrow strings, one per record, in file order.
        items: the same for items.
        times: ``float64`` epoch seconds per record, or ``None`` (no time column).

    Example:
        >>> log = LogColumns(np.array([1, 2]), np.array([5, 5]))
        >>> len(log), log.times is None
        (2, True)
    """

    users: Any
    items: Any
    times: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.users)
