"""Full-ranking top-K metrics for dot-product recommenders.

Every user ``u`` with at least one held-out (test) item is scored against *all* items,
``score(u, i) = user_table[u] · item_table[i]``; the user's excluded items (train, and
validation when testing) are set to ``-inf`` so they are never ranked, and the top
``K`` items are taken in ``tf.math.top_k`` order (which also fixes how ties are broken).
With ``hits_u@K`` the number of test items among those ``K`` and ``n_u = |test_u|``:

- ``recall@K    = hits_u@K / n_u``
- ``precision@K = hits_u@K / K``
- ``hitrate@K   = 1[hits_u@K > 0]``
- ``ndcg@K      = Σ_{r ≤ K, item at rank r is a hit} 1/log2(r + 1)
  ÷ Σ_{r ≤ min(n_u, K)} 1/log2(r + 1)``
- ``recall_trunc@K = hits_u@K / min(n_u, K)`` — an extra, *not* the standard recall: it is
  what the DirectSpec authors' code reports as "Recall".

Each metric is the mean over the evaluated users (those with ``n_u ≥ 1``); users without
test items are skipped and only counted. A test item that is also excluded for the same
user is masked, hence can never be a hit, but still counts in ``n_u`` (as in the
authors' code).

Users are processed in blocks of at most ``batch_size`` rows, so only a
``[batch_size, num_items]`` block of scores is ever dense.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.errors import InputError
from tfdirectspec.parameters import check_ks

__all__ = ["full_ranking_metrics"]


@tf.function(
    input_signature=[
        tf.TensorSpec([None, None], tf.float32),  # user table
        tf.TensorSpec([None], tf.int32),  # users of the block, padded
        tf.TensorSpec([None, None], tf.float32),  # item table
        tf.TensorSpec([None, 2], tf.int32),  # (row in block, item) pairs to mask
        tf.TensorSpec([None, 2], tf.int32),  # (row in block, item) test pairs
        tf.TensorSpec([None], tf.int32),  # the K values
    ],
    # Every shape is dynamic in the signature, so this traces once per process.
)
def _block_hits_and_dcg(
    user_table: tf.Tensor,
    user_ids: tf.Tensor,
    item_table: tf.Tensor,
    exclude_pairs: tf.Tensor,
    test_pairs: tf.Tensor,
    ks: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Hits and DCG at every K for one block of users: two ``[block, len(ks)]`` tensors."""
    scores = tf.matmul(tf.gather(user_table, user_ids), item_table, transpose_b=True)
    scores = tf.tensor_scatter_nd_update(
        scores, exclude_pairs, tf.fill(tf.shape(exclude_pairs)[:1], -np.inf)
    )
    k_max = tf.reduce_max(ks)
    top_scores, top_ids = tf.math.top_k(scores, k=k_max)
    is_test = tf.tensor_scatter_nd_update(
        tf.zeros(tf.shape(scores), tf.bool),
        test_pairs,
        tf.ones(tf.shape(test_pairs)[:1], tf.bool),
    )
    # A user with fewer than K unmasked items gets masked items in its top K; they are
    # not recommendations, so they must not count even if they are test items.
    hit = tf.logical_and(tf.gather(is_test, top_ids, batch_dims=1), top_scores > -np.inf)
    hit = tf.cast(hit, tf.float32)
    ranks = tf.range(1, k_max + 1, dtype=tf.float32)
    discount = 1.0 / (tf.math.log(ranks + 1.0) / math.log(2.0))
    cum_hits = tf.cumsum(hit, axis=1)
    cum_dcg = tf.cumsum(hit * discount, axis=1)
    return tf.gather(cum_hits, ks - 1, axis=1), tf.gather(cum_dcg, ks - 1, axis=1)


def _binary_csr(matrix: sp.spmatrix | sp.sparray, name: str) -> sp.csr_matrix:
    """A canonical binary CSR copy: duplicates collapsed, explicit zeros dropped."""
    if not sp.issparse(matrix):
        raise InputError(f"{name} must be a scipy sparse matrix, got {type(matrix).__name__}")
    out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.data[:] = 1.0
    return out


def _as_table(table, name: str) -> tf.Tensor:
    """A float32 rank-2 tensor (kept on its device when it already is a tensor)."""
    table = tf.convert_to_tensor(table)
    if table.shape.rank != 2:
        raise InputError(f"{name} must be 2-D [rows, d], got shape {table.shape}")
    return tf.cast(table, tf.float32) if table.dtype != tf.float32 else table


def _block_pairs(matrix: sp.csr_matrix, start: int, stop: int) -> np.ndarray:
    """The ``(row - start, col)`` pairs of rows ``start:stop`` as an int32 ``[n, 2]`` array."""
    lo, hi = matrix.indptr[start], matrix.indptr[stop]
    counts = np.diff(matrix.indptr[start : stop + 1])
    pairs = np.empty((hi - lo, 2), dtype=np.int32)
    pairs[:, 0] = np.repeat(np.arange(stop - start, dtype=np.int32), counts)
    pairs[:, 1] = matrix.indices[lo:hi]
    return pairs


def full_ranking_metrics(
    user_table,
    item_table,
    test: sp.csr_matrix,
    exclude: sp.csr_matrix | Sequence[sp.csr_matrix] = (),
    ks: Sequence[int] = (10, 20),
    batch_size: int = 1024,
    extras: bool = True,
) -> dict[str, float]:
    """Recall, NDCG, precision and hit rate at K by ranking all items for every test user.

    The scoring, masking, top-K and hit look-up run in TensorFlow (on a GPU when there is
    one), one block of users at a time; the per-user values are summed in float64.
    Users without test items are not scored at all.

    Args:
        user_table: ``[U, d]`` user vectors (NumPy array or ``tf.Tensor``, cast to float32).
        item_table: ``[I, d]`` item vectors; ``score(u, i) = user_table[u] · item_table[i]``.
        test: ``U × I`` sparse matrix of the held-out items to find (any non-zero entry
            counts once).
        exclude: one sparse ``U × I`` matrix or a sequence of them (e.g. train and
            validation): their items are masked out of each user's ranking.
        ks: cut-offs K; each must be in ``1..I``.
        batch_size: users per block; memory is bounded by ``batch_size × I`` scores.
        extras: also report ``recall_trunc@K = hits / min(|test_u|, K)``.

    Returns:
        ``{"recall@K", "ndcg@K", "precision@K", "hitrate@K"[, "recall_trunc@K"]}`` for each
        K (floats, means over evaluated users; NaN when no user has a test item), plus
        ``"users_evaluated"`` and ``"users_skipped"`` (ints).

    Raises:
        InputError: a K outside ``1..I`` (the message names ``--ks``), mismatched shapes,
            or a non-positive ``batch_size``.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> users = np.eye(2, dtype=np.float32)
        >>> items = np.array([[1, 0], [0, 1], [0.5, 0.5]], dtype=np.float32)
        >>> test = sp.csr_matrix(np.array([[0, 0, 1], [0, 1, 0]]))
        >>> train = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]]))
        >>> m = full_ranking_metrics(users, items, test, exclude=train, ks=(1,))
        >>> m["recall@1"], m["users_evaluated"]
        (1.0, 2)
    """
    user_table = _as_table(user_table, "user_table")
    item_table = _as_table(item_table, "item_table")
    num_users, dim = user_table.shape
    num_items, item_dim = item_table.shape
    if dim != item_dim:
        raise InputError(f"user_table and item_table widths differ ({dim} and {item_dim})")
    test = _binary_csr(test, "test")
    if test.shape != (num_users, num_items):
        raise InputError(
            f"test matrix is {test.shape[0]}x{test.shape[1]} but the tables have "
            f"{num_users} users and {num_items} items"
        )
    if sp.issparse(exclude):
        exclude = [exclude]
    masked = sp.csr_matrix((num_users, num_items), dtype=np.float64)
    for j, matrix in enumerate(exclude):
        matrix = _binary_csr(matrix, f"exclude[{j}]")
        if matrix.shape != (num_users, num_items):
            raise InputError(
                f"exclude[{j}] matrix is {matrix.shape[0]}x{matrix.shape[1]} but the tables "
                f"have {num_users} users and {num_items} items"
            )
        masked = masked + matrix
    k_list = check_ks(ks, num_items)
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or (batch_size < 1)
    ):
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")

    n_test = np.diff(test.indptr)
    users = np.flatnonzero(n_test > 0)
    n_eval = int(users.size)
    result: dict[str, float] = {}
    if n_eval == 0:
        for k in k_list:
            for name in ("recall", "ndcg", "precision", "hitrate") + (
                ("recall_trunc",) if extras else ()
            ):
                result[f"{name}@{k}"] = float("nan")
        result["users_evaluated"] = 0
        result["users_skipped"] = int(num_users)
        return result

    # Only the evaluated users' rows are ever touched from here on.
    test_rows = test[users]
    masked_rows = masked[users]
    masked_rows.sum_duplicates()
    n_test = n_test[users].astype(np.float64)

    # Balanced blocks of one fixed size: the last one needs little padding, and one shape
    # suits XLA/GPU execution.
    n_blocks = -(-n_eval // int(batch_size))
    block = -(-n_eval // n_blocks)
    ks_tensor = tf.constant(k_list, tf.int32)
    hits = np.empty((n_eval, len(k_list)), dtype=np.float64)
    dcg = np.empty((n_eval, len(k_list)), dtype=np.float64)
    for b in range(n_blocks):
        start, stop = b * block, min((b + 1) * block, n_eval)
        ids = np.zeros(block, dtype=np.int32)  # padding rows score user 0, then are dropped
        ids[: stop - start] = users[start:stop]
        block_hits, block_dcg = _block_hits_and_dcg(
            user_table,
            tf.constant(ids),
            item_table,
            tf.constant(_block_pairs(masked_rows, start, stop)),
            tf.constant(_block_pairs(test_rows, start, stop)),
            ks_tensor,
        )
        hits[start:stop] = block_hits.numpy()[: stop - start]
        dcg[start:stop] = block_dcg.numpy()[: stop - start]

    k_arr = np.asarray(k_list, dtype=np.float64)
    # idcg[m] = Σ_{r ≤ m} 1/log2(r+1) for m = 0..K_max.
    idcg = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, max(k_list) + 2)))])
    ideal = idcg[np.minimum(n_test[:, None], k_arr[None, :]).astype(np.int64)]
    per_user = {
        "recall": hits / n_test[:, None],
        "ndcg": dcg / ideal,
        "precision": hits / k_arr[None, :],
        "hitrate": (hits > 0).astype(np.float64),
    }
    if extras:
        per_user["recall_trunc"] = hits / np.minimum(n_test[:, None], k_arr[None, :])
    for j, k in enumerate(k_list):
        for name, values in per_user.items():
            result[f"{name}@{k}"] = float(values[:, j].sum() / n_eval)
    result["users_evaluated"] = n_eval
    result["users_skipped"] = int(num_users - n_eval)
    return result
