"""Interaction pairs from a Parquet file, read column-wise with pyarrow.

The user, item and optional time columns are the ones ``--columns`` names
(:class:`~tfdirectspec.data.log_schema.ColumnChoice`); without it, the ones named
``user``/``item`` (or ``user_id``/``item_id``; names compare case-insensitively), else the
first two columns. Other columns are not read. Id columns may be integers, strings or
dictionary-encoded strings; a time column timestamps, dates, numbers (epoch seconds) or
ISO 8601 strings.

* ``id_type="int"``: integer columns only, every id ``0 <= id <= 2**63 - 1``; the result
  is two ``int64`` numpy arrays (no Python objects).
* ``id_type="str"``: strings as they are (no stripping), integers as their decimal text;
  the result is two pyarrow string arrays, for
  :func:`~tfdirectspec.data.interactions.from_columns`.
* ``id_type="auto"``: integer columns, and string columns whose every id is a
  non-negative decimal integer, as ``int64``; other string columns as strings.

Nulls, empty strings and out-of-range ids are one-line
:class:`~tfdirectspec.errors.InputError`\\ s naming the file, the column and the first
bad row (0-based).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> path = Path(tempfile.mkdtemp()) / "train.parquet"
    >>> pq.write_table(pa.table({"item": [5, 9], "user": [0, 0], "t": [1.0, 2.0]}), path)
    >>> users, items = read_parquet_columns(path)
    >>> users.tolist(), items.tolist()
    ([0, 0], [5, 9])
    >>> pq.write_table(pa.table({"user": [-1], "item": [5]}), path)
    >>> read_parquet_columns(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tfdirectspec.errors.InputError: ...: column 'user' row 0: id -1 is not a non-negative integer
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tfdirectspec.data.byte_scan import release_arrow_memory
from tfdirectspec.data.log_schema import ColumnChoice, LogColumns, epoch_seconds, typed_ids
from tfdirectspec.errors import InputError

#: Accepted (user, item) column names, in order of preference.
COLUMN_NAMES = (("user", "item"), ("user_id", "item_id"))
# Rows per batch of integer ids: 2 MiB of Arrow data per column.
_BATCH_ROWS = 1 << 18


def read_parquet_columns(path: str | os.PathLike, id_type: str = "int") -> tuple[Any, Any]:
    """``(users, items)`` of a Parquet file: ``int64`` numpy arrays or pyarrow strings.

    Args:
        path: the ``.parquet`` file.
        id_type: ``"int"``, ``"str"`` or ``"auto"`` (see the module docstring).

    Raises:
        InputError: the file is missing, is not Parquet, has fewer than two columns, or a
            column has nulls, an unsupported type, an empty string or a negative id.
    """
    log = read_parquet_log(path, None, id_type)
    return log.users, log.items


def read_parquet_log(
    path: str | os.PathLike, choice: ColumnChoice | None = None, id_type: str = "auto"
) -> LogColumns:
    """The user, item and (if ``choice`` names one) time columns of a Parquet file.

    Args:
        path: the ``.parquet`` file.
        choice: the columns (names or indices); ``None`` picks them by name (see the
            module docstring).
        id_type: ``"int"``, ``"str"`` or ``"auto"``.

    Raises:
        InputError: see :func:`read_parquet_columns`; a time column that holds no times.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # No pre-buffering and 1 MiB reads: whole column chunks are not held in memory
        # (measured: Arrow's peak pool use 182 MiB -> 18 MiB on 10M pairs, same speed).
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        all_names = parquet.schema_arrow.names
        if choice is None:
            names = _pick_columns(all_names, path)
        else:
            names = tuple(all_names[k] for k in choice.resolve(all_names, path))
        if id_type == "int" and len(names) == 2:
            return LogColumns(*_int_columns(parquet, names, path))
        table = parquet.read(columns=list(names))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: not a readable Parquet file ({_one_line(error)})") from None
    users, items = (_column(table.column(name), name, path, id_type) for name in names[:2])
    times = None
    if len(names) == 3:
        times = _time_column(table.column(names[2]), names[2], path)
    return LogColumns(users, items, times)


def _time_column(column: Any, name: str, path: str | os.PathLike) -> Any:
    """A time column as epoch seconds, or a one-line error naming it."""
    import pyarrow as pa

    where = f"{path}: column {name!r}"
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if column.null_count:
        raise InputError(f"{where}: null times ({column.null_count} nulls)")
    seconds = epoch_seconds(column)
    if seconds is None:
        raise InputError(f"{where}: has type {column.type} but not times "
                         "(epoch seconds or ISO 8601)")  # fmt: skip
    return seconds


def _int_columns(parquet: Any, names: tuple[str, str], path: str | os.PathLike) -> tuple:
    """Integer ids batch by batch into their final arrays (one batch of Arrow data alive)."""
    rows = parquet.metadata.num_rows
    out = np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.int64)
    offset = 0
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=list(names)):
        for k, name in enumerate(names):
            ids = _column(batch.column(k), name, path, "int", first_row=offset)
            out[k][offset : offset + len(ids)] = ids
        offset += batch.num_rows
    release_arrow_memory()
    return out[0][:offset], out[1][:offset]


def _pick_columns(names: list[str], path: str | os.PathLike) -> tuple[str, str]:
    lowered = {name.lower(): name for name in names}
    for user, item in COLUMN_NAMES:
        if user in lowered and item in lowered:
            return lowered[user], lowered[item]
    if len(names) < 2:
        raise InputError(
            f"{path}: expected user and item columns, found {len(names)} column(s) {names}"
        )
    return names[0], names[1]


def _column(
    column: Any, name: str, path: str | os.PathLike, id_type: str, first_row: int = 0
) -> Any:
    """Checks one column (or a batch of it, starting at ``first_row``) and converts it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    where = f"{path}: column {name!r}"
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if column.null_count:
        row = first_row + pc.index(column.is_null(), True).as_py()
        raise InputError(f"{where} row {row}: null id ({column.null_count} nulls)")
    kind = column.type
    if id_type == "int":
        if not pa.types.is_integer(kind):
            hint = " (read with id_type='str')" if _is_text(kind) else ""
            raise InputError(f"{where}: has type {kind}, expected integer ids{hint}")
        _check_range(column, where, first_row)
        return column.cast(pa.int64()).to_numpy()
    if pa.types.is_integer(kind):
        if id_type == "auto":
            _check_range(column, where, first_row)
            return column.cast(pa.int64()).to_numpy()
        return column.cast(pa.string())
    if not _is_text(kind):
        raise InputError(f"{where}: has type {kind}, expected integer or string ids")
    empty = pc.equal(pc.binary_length(column), 0)
    if pc.any(empty).as_py():
        raise InputError(f"{where} row {first_row + pc.index(empty, True).as_py()}: empty id")
    return typed_ids(column, "auto") if id_type == "auto" else column


def _check_range(column: Any, where: str, first_row: int) -> None:
    """Raises on the first id outside ``[0, int64 max]``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(column) == 0:
        return
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    limit = int(np.iinfo(np.int64).max)
    if low >= 0 and high <= limit:
        return
    # Only uint64 columns can exceed the int64 range.
    too_big = pc.greater(column, pa.scalar(limit, pa.uint64())) if high > limit else None
    bad = pc.less(column, 0) if low < 0 else too_big
    row = pc.index(bad, True).as_py()
    value = column[row].as_py()
    raise InputError(f"{where} row {first_row + row}: id {value} is not a non-negative integer")


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."
