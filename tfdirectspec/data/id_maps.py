"""Dense codes for raw ids shared by several columns (hash-based, via pyarrow).

For columns ``c_1 .. c_k`` of raw ids (all integers or all strings)::

    uniques  = sorted(set(c_1) ∪ ... ∪ set(c_k))   # numerically, or by code point
    codes_j  = position of each id of c_j in uniques   # int32 (or int64 past 2**31 ids)

so ``uniques[codes_j] == c_j``. This is what ``np.unique`` + ``np.searchsorted`` give,
but one hash pass finds the uniques (``O(n)``, only the ``u`` uniques get sorted) and
another maps every id, and string ids stay Arrow strings (offsets + UTF-8 bytes) until
only the uniques become a numpy string array: ``n`` ids never exist as a numpy ``<U``
array, which costs ``4 * max_len`` bytes per id.

Example:
    >>> codes, uniques = encode_ids([np.array([30, 10, 30]), np.array([20])])
    >>> [c.tolist() for c in codes], uniques.tolist()
    ([[2, 0, 2], [1]], [10, 20, 30])
    >>> codes, uniques = encode_ids([np.array(["b", "a"]), np.array(["c", "a"])])
    >>> [c.tolist() for c in codes], uniques.tolist()
    ([[1, 0], [2, 0]], ['a', 'b', 'c'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def encode_ids(columns: Sequence[Any]) -> tuple[list[np.ndarray], np.ndarray]:
    """``(codes per column, sorted uniques)`` of raw ids spread over ``columns``.

    Args:
        columns: numpy arrays (integer or string) or pyarrow ``Array``/``ChunkedArray``s;
            all integer, or all string.

    Returns:
        A list of integer code arrays (one per column, same lengths) and the uniques:
        ``int64`` for integer ids, a numpy string array otherwise.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = [_to_arrow(column) for column in columns]
    integer = all(pa.types.is_integer(a.type) for a in arrays)
    if not integer and len({a.type for a in arrays}) > 1:
        # string and large_string cannot share one ChunkedArray.
        arrays = [a.cast(pa.large_string()) for a in arrays]
    kind = pa.int64() if integer else arrays[0].type
    if integer:
        arrays = [a.cast(pa.int64()) for a in arrays]
    chunks = [chunk for a in arrays for chunk in _chunks_of(a)]
    distinct = pc.unique(pa.chunked_array(chunks, type=kind))
    if integer:
        uniques = np.sort(distinct.to_numpy())
        value_set = pa.array(uniques)
    else:
        value_set = distinct.take(pc.sort_indices(distinct))
        # Only the uniques go through Python objects.
        uniques = np.asarray(value_set.to_numpy(zero_copy_only=False), dtype=str)
    codes = [_codes(pc.index_in(a, value_set=value_set)) for a in arrays]
    return codes, uniques


def _to_arrow(column: Any) -> Any:
    import pyarrow as pa

    if isinstance(column, pa.Array | pa.ChunkedArray):
        return column
    array = np.asarray(column)
    if array.dtype.kind in "iu":
        # Contiguous int64 passes to Arrow without a copy.
        return pa.array(np.ascontiguousarray(array, dtype=np.int64))
    return pa.array(array.astype(str, copy=False))


def _chunks_of(array: Any) -> list:
    import pyarrow as pa

    return list(array.chunks) if isinstance(array, pa.ChunkedArray) else [array]


def _codes(indices: Any) -> np.ndarray:
    """Index arrays from ``index_in`` (never null here: every id is in the set) as numpy."""
    import pyarrow as pa

    if isinstance(indices, pa.ChunkedArray):
        if indices.num_chunks == 0:
            return np.empty(0, dtype=np.int32)
        indices = indices.combine_chunks() if indices.num_chunks > 1 else indices.chunk(0)
    return indices.to_numpy()
