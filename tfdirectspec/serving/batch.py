"""Recommendations for many users written to a file, one bounded block of users at a time.

For users ``u_1 .. u_n`` (row indices of a :class:`~tfdirectspec.serving.recommender.Recommender`)
and a block size ``b``, blocks ``u_1..u_b``, ``u_{b+1}..u_{2b}``, … are scored (each in
sub-blocks of at most the recommender's score budget) and appended to the file as they
come, so peak memory is one block's rows whatever ``n``: about ``b · K`` rows and one
block of scores. The file appears under its name only when every block is written
(:class:`~tfdirectspec.serving.recs_file.RecommendationFile`).

Example:
    >>> import tempfile
    >>> import pyarrow.parquet as pq
    >>> from tfdirectspec.serving.module import ExportTables
    >>> from tfdirectspec.serving.recommender import Recommender
    >>> path = Path(tempfile.mkdtemp()) / "recs.parquet"
    >>> rec = Recommender(ExportTables.example())  # users 10, 11; items 100-102
    >>> write_recommendations(rec, np.arange(2), k=2, output=path, block_size=1)
    {'output': '...recs.parquet', 'users': 2, 'rows': 4, 'blocks': 2, 'format': 'parquet'}
    >>> pq.read_table(path).to_pydict()["item_id"]
    [101, 102, 101, 100]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tfdirectspec.parameters import check_positive
from tfdirectspec.serving.recommender import Recommender
from tfdirectspec.serving.recs_file import RecommendationFile

#: Users per written block (a Parquet row group of ``DEFAULT_BLOCK_SIZE · K`` rows).
DEFAULT_BLOCK_SIZE = 4096


def write_recommendations(
    recommender: Recommender,
    users: np.ndarray,
    k: int,
    output: str | os.PathLike,
    block_size: int = DEFAULT_BLOCK_SIZE,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Writes the top ``k`` of each user (row indices ``users``) to ``output``.

    Args:
        recommender: the model's tables.
        users: row indices of the users, in the order to write them.
        k: items per user (``1..I``).
        output: a ``.parquet`` or ``.csv`` path.
        block_size: users per written block.
        overwrite: replace an existing ``output``.

    Returns:
        ``{"output", "users", "rows", "blocks", "format"}``.

    Raises:
        ParameterError: a bad ``k``, ``block_size`` or ``output`` (before anything is written).
    """
    k = recommender.check_k(k)
    if isinstance(block_size, bool) or not isinstance(block_size, int):
        raise TypeError(f"block_size must be an integer, got {block_size!r}")
    check_positive("block_size", block_size)
    users = np.asarray(users, dtype=np.int64)
    with RecommendationFile(output, overwrite=overwrite) as out:
        for start in range(0, len(users), block_size):
            out.write(recommender.rows(users[start : start + block_size], k))
    return {
        "output": str(Path(output)),
        "users": int(len(users)),
        "rows": out.rows_written,
        "blocks": out.blocks_written,
        "format": out.format,
    }
