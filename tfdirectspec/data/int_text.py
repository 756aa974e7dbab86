"""Vectorised parse of integer interaction text, chunk by chunk, into user and item columns.

The parse accepts a strict subset of what the validating line parser of
:mod:`tfdirectspec.data.readers` accepts (ASCII digits, the separator, whitespace, at most
18 digits per id) and gives the same pairs; it returns ``None`` for anything else, so
the caller falls back to the validating parser for the exact error message.

Memory: the byte-level masks cost about 15 bytes per byte parsed, so the text goes
through in chunks of ``chunk_bytes`` (cut after a newline: lines never straddle two
chunks). The peak is then ``16·pairs`` for the output columns plus ``~15·chunk_bytes``,
independent of the file size.

Example:
    >>> users, items = int_columns(b"7\\t15\\n7\\t9\\n\\n8\\t15\\n", "\\t", chunk_bytes=4)
    >>> users.tolist(), items.tolist()
    ([7, 7, 8], [15, 9, 15])
    >>> int_columns(b"0 5 9\\n1 5\\n", None)[1].tolist()  # LightGCN text
    [5, 9, 5]
    >>> int_columns(b"7\\tx\\n", "\\t") is None  # not for the fast path
    True
"""

from __future__ import annotations

import numpy as np

from tfdirectspec.data.byte_scan import count_byte

#: Default chunk size: big enough that per-chunk overhead vanishes, small enough that
#: the ~15 bytes of masks per byte stay a few hundred MiB.
CHUNK_BYTES = 16 << 20
# 18 decimal digits always fit in int64; longer runs go to the exact slow path.
_MAX_FAST_DIGITS = 18


def int_columns(
    buf: bytes, sep: str | None, chunk_bytes: int = CHUNK_BYTES, begin: int = 0
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(users, items)`` as ``int64`` arrays, or ``None`` if the text is not plain integers.

    Args:
        buf: the text (a UTF-8 BOM is skipped).
        sep: ``"\\t"`` or ``","`` for TSV/CSV (first two fields), ``None`` for LightGCN
            text (the first token of a line is the user of all the others).
        chunk_bytes: the text is parsed in chunks of about this size.
        begin: where the text starts in ``buf`` (after a header line; no copy is made).
    """
    if buf.startswith(b"\xef\xbb\xbf", begin):
        begin += 3
    # Separated text has at most one pair per newline (+1 for a last unterminated line),
    # so its columns are allocated once; LightGCN lines hold any number of pairs.
    bound = count_byte(buf, b"\n", begin) + 1 if sep is not None else 0
    users_out = np.empty(bound, dtype=np.int64)
    items_out = np.empty(bound, dtype=np.int64)
    users_parts, items_parts, filled = [], [], 0
    view = memoryview(buf)
    for start, end in _chunk_bounds(buf, begin, chunk_bytes):
        pairs = _chunk_pairs(np.frombuffer(view[start:end], dtype=np.uint8), sep)
        if pairs is None:
            return None
        users, items = pairs
        if sep is not None:
            users_out[filled : filled + users.size] = users
            items_out[filled : filled + items.size] = items
        else:
            users_parts.append(users)
            items_parts.append(items)
        filled += users.size
    if sep is not None:
        return users_out[:filled], items_out[:filled]
    return np.concatenate([users_out, *users_parts]), np.concatenate([items_out, *items_parts])


def _chunk_bounds(buf: bytes, begin: int, chunk_bytes: int):
    """``(start, end)`` of slices of about ``chunk_bytes`` bytes, each ending after a newline."""
    start = begin
    while start < len(buf):
        end = buf.find(b"\n", start + max(chunk_bytes, 1) - 1)
        end = len(buf) if end < 0 else end + 1
        yield start, end
        start = end


def _chunk_pairs(a: np.ndarray, sep: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The pairs of whole lines ``a`` (bytes as ``uint8``), or ``None``."""
    if a.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    is_digit = (a >= ord("0")) & (a <= ord("9"))
    is_newline = a == ord("\n")
    is_sep = a == ord(sep) if sep is not None else np.zeros_like(is_digit)
    ok = is_digit | is_newline | is_sep
    ok |= (a == ord(" ")) | (a == ord("\r")) | (a == 0x0B) | (a == 0x0C)
    if sep != "\t":
        ok |= a == ord("\t")
    if not ok.all():
        return None
    del ok
    values, starts = _digit_runs(a, is_digit)
    if values is None:
        return None
    if sep is None:
        return _lightgcn_pairs(values, starts, is_newline)
    return _separated_pairs(values, starts, is_newline, is_sep)


def _digit_runs(a: np.ndarray, is_digit: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Values and start offsets of the maximal runs of digits (``None`` if one is too long)."""
    edges = np.diff(is_digit.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    lengths = np.flatnonzero(edges == -1) - starts
    del edges
    if lengths.size == 0:
        return np.empty(0, dtype=np.int64), starts
    longest = int(lengths.max())
    if longest > _MAX_FAST_DIGITS:
        return None, starts
    # Horner's rule over digit columns: memory stays O(runs), not O(bytes).
    values = np.zeros(starts.size, dtype=np.int64)
    last = a.size - 1
    for j in range(longest):
        digit = a[np.minimum(starts + j, last)].astype(np.int64) - ord("0")
        values = np.where(j < lengths, values * 10 + digit, values)
    return values, starts


def _lightgcn_pairs(
    values: np.ndarray, starts: np.ndarray, is_newline: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs each token with the first token (the user) of its line."""
    line_of_run = np.searchsorted(np.flatnonzero(is_newline), starts)
    is_first = np.ones(values.size, dtype=bool)
    is_first[1:] = line_of_run[1:] != line_of_run[:-1]
    first_index = np.maximum.accumulate(np.where(is_first, np.arange(values.size), 0))
    items = ~is_first
    return values[first_index[items]], values[items]


def _separated_pairs(
    values: np.ndarray, starts: np.ndarray, is_newline: np.ndarray, is_sep: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """First two fields of each line, if every field holds exactly one integer.

    A field is the text between two boundaries (separators or newlines). Fields that
    are whole lines must be blank; all other fields must hold exactly one run of digits.
    """
    boundaries = np.flatnonzero(is_newline | is_sep)
    field_of_run = np.searchsorted(boundaries, starts)
    boundary_is_newline = is_newline[boundaries]
    del boundaries
    num_fields = boundary_is_newline.size + 1
    starts_line = np.concatenate(([True], boundary_is_newline))
    ends_line = np.concatenate((boundary_is_newline, [True]))
    runs_per_field = np.bincount(field_of_run, minlength=num_fields)
    whole_line = starts_line & ends_line
    if not np.all(np.where(whole_line, runs_per_field == 0, runs_per_field == 1)):
        return None
    # Now runs and non-blank fields correspond one to one, and each such line has >= 2.
    user_runs = np.flatnonzero(starts_line[field_of_run])
    return values[user_runs], values[user_runs + 1]
