"""Memory-lean helpers of the readers: byte counts chunk by chunk, Arrow pool release.

Counts go chunk by chunk with numpy (``bytes.count`` runs ~3x slower); each chunk costs
one ``bool`` mask of ``chunk_bytes``, so memory stays constant.

Example:
    >>> count_byte(b"1\\t2\\n3\\t4\\n5", b"\\n", chunk_bytes=3)
    2
    >>> has_lone_cr(b"1\\r\\n2\\r\\n"), has_lone_cr(b"1\\r2\\n", chunk_bytes=2)
    (False, True)
"""

from __future__ import annotations

import numpy as np

CHUNK_BYTES = 16 << 20


def count_byte(buf: bytes, byte: bytes, begin: int = 0, chunk_bytes: int = CHUNK_BYTES) -> int:
    """How many times the single byte ``byte`` occurs in ``buf[begin:]``."""
    view, value, total = memoryview(buf), ord(byte), 0
    for start in range(begin, len(buf), chunk_bytes):
        chunk = np.frombuffer(view[start : start + chunk_bytes], dtype=np.uint8)
        total += int(np.count_nonzero(chunk == value))
    return total


def has_lone_cr(buf: bytes, begin: int = 0, chunk_bytes: int = CHUNK_BYTES) -> bool:
    """Whether ``buf[begin:]`` has a ``\\r`` not followed by ``\\n`` (a line end for Arrow)."""
    if buf.find(b"\r", begin) < 0:
        return False
    view = memoryview(buf)
    for start in range(begin, len(buf), chunk_bytes):
        # One byte of overlap: the "\n" after a chunk's last "\r" is in the next chunk.
        chunk = np.frombuffer(view[start : start + chunk_bytes + 1], dtype=np.uint8)
        cr = chunk[: min(chunk_bytes, chunk.size)] == 13
        following = np.append(chunk[1:], np.uint8(0))[: cr.size]
        if np.any(cr & (following != 10)):
            return True
    return False


def release_arrow_memory() -> None:
    """Returns the Arrow pool's freed blocks to the OS.

    The pool (mimalloc or jemalloc) otherwise keeps the parse buffers of a read resident
    for a while, and they add up with the id maps built right after it.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
