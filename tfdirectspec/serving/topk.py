"""Top-K of dot-product scores with some (user, item) pairs masked out.

For user vectors ``U_B`` (``[B, d]``) and the item table ``V`` (``[I, d]``)::

    scores = U_B · Vᵀ                       # [B, I], one block of users
    scores[b, i] = -inf   for each masked pair (b, i)   (the user's seen items)
    top    = the K best of each row, best first (ties: lower item index first)

Catalogs of at least four :data:`TOP_K_BLOCK` blocks take the top ``K`` blockwise
(:func:`blocked_top_k`: exact, the same ids and scores as one ``tf.math.top_k``).
Both the exported module and the batch recommendations of a run go through
:func:`masked_top_k`, so a run and its export rank alike.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

#: Items per block of the blocked top-K; catalogs of fewer than 4 blocks take one plain top-K.
TOP_K_BLOCK = 65_536


def blocked_top_k(scores: tf.Tensor, k: int, block: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Exact top-``k`` of each row of ``scores`` ``[n, I]``, a block of items at a time.

    The top ``k`` within each block of ``block`` items, then the top ``k`` of those
    ``k · ⌈I / block⌉`` candidates. Same values and indices as
    ``tf.math.top_k(scores, k)``, ties included (lower index first): the candidates
    are laid out block after block, each block's best first and, among equal scores,
    lower indices first, so among equal candidates a lower position is a lower item
    index. The last block is padded with ``-inf``, which comes after every real item
    (also ``-inf`` ones) and is never chosen since ``k ≤ I``. Needs ``k ≤ block``.

    Example:
        >>> scores = tf.constant([[1.0, 9.0, 5.0, 9.0, -1.0, 5.0, 7.0]])  # a tie at 9
        >>> values, index = blocked_top_k(scores, k=3, block=3)
        >>> index.numpy().tolist(), values.numpy().tolist()
        ([[1, 3, 6]], [[9.0, 9.0, 7.0]])
    """
    rows, items = tf.shape(scores)[0], tf.shape(scores)[1]
    blocks = (items + block - 1) // block
    padded = tf.pad(scores, [[0, 0], [0, blocks * block - items]], constant_values=-np.inf)
    values, index = tf.math.top_k(tf.reshape(padded, [rows, blocks, block]), k)
    index += (tf.range(blocks) * block)[None, :, None]
    top, where = tf.math.top_k(tf.reshape(values, [rows, blocks * k]), k)
    return top, tf.gather(tf.reshape(index, [rows, blocks * k]), where, batch_dims=1)


def masked_top_k(
    user_vectors: tf.Tensor,
    item_table: tf.Tensor,
    mask_rows: tf.Tensor,
    mask_cols: tf.Tensor,
    k: int,
    top_k_block: int = TOP_K_BLOCK,
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(scores, item indices)`` ``[B, k]`` of the best unmasked items of each user row.

    Args:
        user_vectors: ``[B, d]`` float32 scoring vectors.
        item_table: ``[I, d]`` float32 item vectors.
        mask_rows: ``[n]`` int64 row (in ``user_vectors``) of each masked pair.
        mask_cols: ``[n]`` int64 item index of each masked pair.
        k: items per row (``1..I``); a row with fewer than ``k`` unmasked items gets
            ``-inf`` scores in the slots past them.
        top_k_block: catalogs of at least four blocks of this many items take the
            top-K blockwise (same result).

    Example:
        >>> users = tf.constant([[1.0, 0.0], [0.0, 1.0]])
        >>> items = tf.constant([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
        >>> seen_rows, seen_items = tf.constant([0, 1], tf.int64), tf.constant([0, 2], tf.int64)
        >>> scores, index = masked_top_k(users, items, seen_rows, seen_items, k=2)
        >>> index.numpy().tolist(), scores.numpy().tolist()
        ([[1, 2], [1, 0]], [[0.5, 0.0], [0.5, 0.0]])
    """
    scores = tf.matmul(user_vectors, item_table, transpose_b=True)
    scores = tf.tensor_scatter_nd_update(
        scores,
        tf.stack([mask_rows, mask_cols], axis=1),
        tf.fill(tf.shape(mask_rows), tf.constant(-np.inf, tf.float32)),
    )
    if item_table.shape[0] is not None and item_table.shape[0] >= 4 * top_k_block:
        return blocked_top_k(scores, k, max(int(top_k_block), int(k)))
    return tf.math.top_k(scores, k=k)
