"""Streamed scoring: per-user hits and DCG at K, one bounded block of users at a time.

A block of ``B`` users is scored against all ``I`` items (``scores = U_B · Vᵀ``), the
users' excluded items are set to ``-inf``, and the top ``K_max`` items are taken in
``tf.math.top_k`` order. Whether the item at rank ``r`` of row ``b`` is a test item is
looked up in the block's sorted test keys ``b · I + item`` (a binary search), so besides
the scores no other ``[B, I]`` tensor is built. With ``hit_r ∈ {0, 1}``:

- ``hits@K = Σ_{r ≤ K} hit_r``
- ``dcg@K  = Σ_{r ≤ K} hit_r / log2(r + 1)``

``B = clamp(max_block_scores // I, 1, batch_size)``, so the dense part of an evaluation
is at most ``max(max_block_scores, I)`` scores whatever the catalogue size (and at most
``batch_size`` users). The blocks are balanced: every block has the same number of rows,
the last one padded with user 0, whose rows are then dropped.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.errors import InputError

__all__ = ["DEFAULT_MAX_BLOCK_SCORES", "block_rows", "hits_and_dcg"]

#: Scores (float32) a block may hold: 2**24 = 64 MiB.
DEFAULT_MAX_BLOCK_SCORES = 2**24


def block_rows(num_items: int, batch_size: int, max_block_scores: int) -> int:
    """Users per block: ``clamp(max_block_scores // num_items, 1, batch_size)``.

    Example:
        >>> block_rows(16980, 1024, 2**24), block_rows(10**6, 1024, 2**24)
        (988, 16)
        >>> block_rows(50, 1024, 2**24), block_rows(10**8, 1024, 2**24)
        (1024, 1)
    """
    for name, value in (("batch_size", batch_size), ("max_block_scores", max_block_scores)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(max(1, min(int(batch_size), int(max_block_scores) // max(int(num_items), 1))))


@tf.function(
    input_signature=[
        tf.TensorSpec([None, None], tf.float32),  # user table
        tf.TensorSpec([None], tf.int32),  # users of the block, padded
        tf.TensorSpec([None, None], tf.float32),  # item table
        tf.TensorSpec([None, 2], tf.int32),  # (row in block, item) pairs to mask
        tf.TensorSpec([None], tf.int64),  # sorted test keys row * num_items + item
        tf.TensorSpec([None], tf.int32),  # the K values
    ],
    # Every shape is dynamic in the signature, so this traces once per process.
)
def _block_hits_and_dcg(
    user_table: tf.Tensor,
    user_ids: tf.Tensor,
    item_table: tf.Tensor,
    exclude_pairs: tf.Tensor,
    test_keys: tf.Tensor,
    ks: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Hits and DCG at every K for one block of users: two ``[block, len(ks)]`` tensors."""
    scores = tf.matmul(tf.gather(user_table, user_ids), item_table, transpose_b=True)
    return _ranked_hits_and_dcg(scores, exclude_pairs, test_keys, ks)


@tf.function(
    input_signature=[
        tf.TensorSpec([None, None], tf.float32),  # the block's scores [block, items]
        tf.TensorSpec([None, 2], tf.int32),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([None], tf.int32),
    ],
)
def _scored_block_hits_and_dcg(
    scores: tf.Tensor, exclude_pairs: tf.Tensor, test_keys: tf.Tensor, ks: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """:func:`_block_hits_and_dcg` of a block whose scores are already computed."""
    return _ranked_hits_and_dcg(scores, exclude_pairs, test_keys, ks)


def _ranked_hits_and_dcg(
    scores: tf.Tensor, exclude_pairs: tf.Tensor, test_keys: tf.Tensor, ks: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Masks, takes the top K and counts hits and DCG of one block's ``[block, items]`` scores."""
    scores = tf.tensor_scatter_nd_update(
        scores, exclude_pairs, tf.fill(tf.shape(exclude_pairs)[:1], -np.inf)
    )
    k_max = tf.reduce_max(ks)
    top_scores, top_ids = tf.math.top_k(scores, k=k_max)
    num_items = tf.cast(tf.shape(scores)[1], tf.int64)
    rows = tf.range(tf.shape(scores, out_type=tf.int64)[0], dtype=tf.int64)[:, None]
    keys = tf.reshape(rows * num_items + tf.cast(top_ids, tf.int64), [-1])
    # Every block holds at least one test pair (its users are users with test items), so
    # the clipped position is valid; a key past the last one is simply not found.
    where = tf.minimum(tf.searchsorted(test_keys, keys), tf.size(test_keys) - 1)
    is_test = tf.reshape(tf.equal(tf.gather(test_keys, where), keys), tf.shape(top_ids))
    # A user with fewer than K unmasked items gets masked items in its top K; they are
    # not recommendations, so they must not count even if they are test items.
    hit = tf.cast(tf.logical_and(is_test, top_scores > -np.inf), tf.float32)
    ranks = tf.range(1, k_max + 1, dtype=tf.float32)
    discount = 1.0 / (tf.math.log(ranks + 1.0) / math.log(2.0))
    cum_hits = tf.cumsum(hit, axis=1)
    cum_dcg = tf.cumsum(hit * discount, axis=1)
    return tf.gather(cum_hits, ks - 1, axis=1), tf.gather(cum_dcg, ks - 1, axis=1)


def _block_pairs(matrix: sp.csr_matrix, start: int, stop: int) -> np.ndarray:
    """The ``(row - start, col)`` pairs of rows ``start:stop`` as an int32 ``[n, 2]`` array."""
    lo, hi = matrix.indptr[start], matrix.indptr[stop]
    counts = np.diff(matrix.indptr[start : stop + 1])
    pairs = np.empty((hi - lo, 2), dtype=np.int32)
    pairs[:, 0] = np.repeat(np.arange(stop - start, dtype=np.int32), counts)
    pairs[:, 1] = matrix.indices[lo:hi]
    return pairs


def _block_keys(matrix: sp.csr_matrix, start: int, stop: int, num_items: int) -> np.ndarray:
    """Sorted int64 keys ``(row - start) · num_items + col`` of rows ``start:stop``."""
    pairs = _block_pairs(matrix, start, stop).astype(np.int64)
    # Rows come in order and the caller sorted each row's columns, so this is sorted.
    return pairs[:, 0] * num_items + pairs[:, 1]


# Long by its docstring only: the body is one loop over the blocks of users.
def hits_and_dcg(
    user_table: tf.Tensor,
    item_table: tf.Tensor,
    users: np.ndarray,
    test_rows: sp.csr_matrix,
    masked_rows: sp.csr_matrix,
    ks: list[int],
    rows_per_block: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``hits@K`` and ``dcg@K`` of each user in ``users``: two float64 ``[len(users), len(ks)]``.

    Args:
        user_table: ``[U, d]`` float32 user vectors, or a SciPy CSR ``[U, d]`` matrix
            (then ``item_table`` is a NumPy array and each block's scores are
            ``user_table[block] @ item_table.T``, computed by SciPy: fastest when
            ``item_table.T`` is C-ordered, as EASE's ``Bᵀ = B.T`` is).
        item_table: ``[I, d]`` float32 item vectors.
        users: ids of the users to rank, each with at least one test item.
        test_rows: binary CSR ``[len(users), I]``: row ``j`` holds ``users[j]``'s test items.
        masked_rows: binary CSR ``[len(users), I]``: the items to mask for ``users[j]``.
        ks: the cut-offs, each in ``1..I``.
        rows_per_block: users per block (see :func:`block_rows`).

    Example:
        >>> import numpy as np, scipy.sparse as sp, tensorflow as tf
        >>> users = tf.constant(np.eye(2, dtype=np.float32))
        >>> items = tf.constant([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
        >>> test = sp.csr_matrix(np.array([[0, 0, 1], [0, 1, 0]]))
        >>> masked = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]]))
        >>> hits, dcg = hits_and_dcg(users, items, np.arange(2), test, masked, [1, 2], 1)
        >>> hits.tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    num_items = int(item_table.shape[0])
    test_rows.sort_indices()
    n = int(users.size)
    n_blocks = -(-n // rows_per_block)
    # Balanced blocks of one fixed size: the last one needs little padding, and one shape
    # suits XLA/GPU execution.
    block = -(-n // n_blocks)
    ks_tensor = tf.constant(ks, tf.int32)
    hits = np.empty((n, len(ks)), dtype=np.float64)
    dcg = np.empty((n, len(ks)), dtype=np.float64)
    for b in range(n_blocks):
        start, stop = b * block, min((b + 1) * block, n)
        ids = np.zeros(block, dtype=np.int32)  # padding rows score user 0, then are dropped
        ids[: stop - start] = users[start:stop]
        pairs = tf.constant(_block_pairs(masked_rows, start, stop))
        keys = tf.constant(_block_keys(test_rows, start, stop, num_items))
        if sp.issparse(user_table):
            # Sparse rows (EASE: x_u) times the item table's transpose (B), in SciPy: a
            # CSR × C-ordered dense product reads one row of B per interaction, so a block
            # costs its interactions × I, not block × d × I.
            scores = np.asarray(user_table[ids] @ item_table.T, dtype=np.float32)
            block_hits, block_dcg = _scored_block_hits_and_dcg(
                tf.constant(scores), pairs, keys, ks_tensor
            )
        else:
            block_hits, block_dcg = _block_hits_and_dcg(
                user_table, tf.constant(ids), item_table, pairs, keys, ks_tensor
            )
        hits[start:stop] = block_hits.numpy()[: stop - start]
        dcg[start:stop] = block_dcg.numpy()[: stop - start]
    return hits, dcg
