"""TSV/CSV text through pyarrow's CSV reader (multi-threaded C++, no Python objects).

A fast path for the first two fields of every line:

* ``id_type="str"``: the fields stripped of whitespace exactly as Python's ``str.strip``
  does, as Arrow string columns (offsets plus UTF-8 bytes: ``~4 + len(id)`` bytes per id,
  where a numpy ``<U`` array takes ``4 * max len``);
* ``id_type="int"``: ``int64`` numpy columns, when the text holds no ``-``, ``x`` or ``X``
  (Arrow also reads ``-0`` and ``0x10``, which are not non-negative decimal integers).

It returns ``None`` whenever the text could read differently from the validating line
parser of :mod:`tfdirectspec.data.readers` (a lone ``\\r``, which Arrow takes for a line
end; a non-blank row with another number of fields than the first; an empty id; an id
Arrow cannot convert), so the caller falls back to a stricter path for the exact result
or error message. The caller checks UTF-8 first (Arrow skips the unread columns).

Example:
    >>> users, items = arrow_columns(b"alice\\tbook 1\\n\\n bob \\tb2\\n", "\\t", "str")
    >>> users.to_pylist(), items.to_pylist()
    (['alice', 'bob'], ['book 1', 'b2'])
    >>> [c.tolist() for c in arrow_columns(b"user,item\\n7,15,a\\n 8 ,15,b\\n", ",", "int", 10)]
    [[7, 8], [15, 15]]
    >>> arrow_columns(b"alice\\t\\n", "\\t", "str") is None  # empty: the line parser reports it
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tfdirectspec.data.byte_scan import count_byte, has_lone_cr, release_arrow_memory

#: Characters Python's ``str.strip()`` removes (``str.isspace``), for ``utf8_trim``.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: Bytes per block of the CSV reader (its unit of parallelism and of the output chunks).
BLOCK_BYTES = 16 << 20
# Bytes that make Arrow's integer parse laxer than a non-negative decimal integer.
_NOT_FOR_INT = (b"-", b"x", b"X")


def arrow_columns(buf: bytes, sep: str, id_type: str, begin: int = 0) -> tuple[Any, Any] | None:
    """``(users, items)``, or ``None`` to fall back to a stricter parser.

    Args:
        buf: the text (a UTF-8 BOM at ``begin`` is skipped).
        sep: the field separator, ``"\\t"`` or ``","``.
        id_type: ``"int"`` (``int64`` numpy arrays) or ``"str"`` (pyarrow string
            ``ChunkedArray``\\ s).
        begin: where the data starts in ``buf`` (after a header line; no copy is made).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    begin = min(begin, len(buf))  # a header line without a final newline ends the text
    if buf.startswith(b"\xef\xbb\xbf", begin):
        begin += 3
    if has_lone_cr(buf, begin):
        return None
    if id_type == "int" and any(buf.find(b, begin) >= 0 for b in _NOT_FOR_INT):
        return None
    kind = pa.int64() if id_type == "int" else pa.string()
    # Streamed batch by batch: only one block's parse buffers are alive at a time, and
    # integer ids go straight into their final arrays (at most one pair per line).
    bound = count_byte(buf, b"\n", begin) + 1 if id_type == "int" else 0
    ints = np.empty(bound, dtype=np.int64), np.empty(bound, dtype=np.int64)
    strings: tuple[list, list] = ([], [])
    filled = 0
    try:
        for batch in _open_csv(buf, sep, begin, kind):
            for k, out in enumerate(ints if id_type == "int" else strings):
                column = batch.column(k)
                if id_type == "str":
                    column = pc.utf8_trim(column, characters=PY_WHITESPACE)
                    if pc.any(pc.equal(pc.binary_length(column), 0)).as_py():
                        return None
                if column.null_count:  # an empty field (or a blank line with separators)
                    return None
                if id_type == "int":
                    out[filled : filled + len(column)] = column.to_numpy()
                else:
                    out.append(column)
            filled += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowKeyError, KeyError, _Declined):
        return None
    finally:
        release_arrow_memory()
    if id_type == "int":
        return ints[0][:filled], ints[1][:filled]
    return tuple(pa.chunked_array(chunks, type=pa.string()) for chunks in strings)


class _Declined(Exception):
    """A row the line parser must judge."""


def _open_csv(buf: bytes, sep: str, begin: int, kind: Any) -> Iterator[Any]:
    """Record batches of the first two columns as ``kind`` (raises if Arrow rejects the text)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    odd_rows: list[str] = []

    def on_invalid_row(row: Any) -> str:
        # Rows with another number of fields than the first: fine if blank, else the
        # line parser decides (it accepts any number >= 2 and names a bad line).
        if row.text.strip():
            odd_rows.append(row.text)
            return "error"
        return "skip"

    read_options = pacsv.ReadOptions(autogenerate_column_names=True, block_size=BLOCK_BYTES)
    parse_options = pacsv.ParseOptions(
        delimiter=sep,
        quote_char=False,
        double_quote=False,
        escape_char=False,
        newlines_in_values=False,
        ignore_empty_lines=True,
        invalid_row_handler=on_invalid_row,
    )
    convert_options = pacsv.ConvertOptions(
        column_types={"f0": kind, "f1": kind},
        include_columns=["f0", "f1"],
        strings_can_be_null=False,
        check_utf8=True,
    )
    source = pa.BufferReader(pa.py_buffer(buf).slice(begin))
    reader = pacsv.open_csv(source, read_options, parse_options, convert_options)
    if reader.schema.names != ["f0", "f1"]:
        raise _Declined
    for batch in reader:
        if odd_rows:
            raise _Declined
        yield batch
    if odd_rows:
        raise _Declined
