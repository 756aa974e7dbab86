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

Users are streamed in blocks (:mod:`tfdirectspec.evaluation.blocks`) of at most
``max_block_scores`` scores, so memory does not grow with the number of users and only
linearly, through one block row, with the catalogue. With ``sample_users = n`` only a
seeded sample of ``n`` users is ranked (:mod:`tfdirectspec.evaluation.sampled`) and each
mean comes with its 95% confidence half-width.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.errors import InputError
from tfdirectspec.evaluation.blocks import DEFAULT_MAX_BLOCK_SCORES, block_rows, hits_and_dcg
from tfdirectspec.evaluation.sampled import confidence_half_width, sample_positions
from tfdirectspec.evaluation.tables import as_table
from tfdirectspec.parameters import check_ks

__all__ = ["CI_SUFFIX", "full_ranking_metrics"]

#: Suffix of the confidence half-width keys of a sampled evaluation (``ndcg@20_ci95``).
CI_SUFFIX = "_ci95"


def _binary_csr(matrix: sp.spmatrix | sp.sparray, name: str) -> sp.csr_matrix:
    """A canonical binary CSR copy: duplicates collapsed, explicit zeros dropped."""
    if not sp.issparse(matrix):
        raise InputError(f"{name} must be a scipy sparse matrix, got {type(matrix).__name__}")
    out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.data[:] = 1.0
    return out


# Long by its docstring only (the metrics' contract): the stages are helpers below.
def full_ranking_metrics(
    user_table,
    item_table,
    test: sp.csr_matrix,
    exclude: sp.csr_matrix | Sequence[sp.csr_matrix] = (),
    ks: Sequence[int] = (10, 20),
    batch_size: int = 1024,
    extras: bool = True,
    *,
    sample_users: int | None = None,
    seed: int = 0,
    max_block_scores: int = DEFAULT_MAX_BLOCK_SCORES,
) -> dict[str, float]:
    """Recall, NDCG, precision and hit rate at K by ranking all items for every test user.

    The scoring, masking, top-K and hit look-up run in TensorFlow (on a GPU when there is
    one), one block of users at a time; the per-user values are summed in float64.
    Users without test items are not scored at all.

    Args:
        user_table: ``[U, d]`` user vectors (NumPy array or ``tf.Tensor``, cast to float32),
            or a SciPy sparse ``[U, d]`` matrix (EASE: the users' interaction rows ``X`` with
            ``item_table = Bᵀ``): each block's scores are then ``X_block · B``, a sparse ×
            dense product in SciPy (pass ``Bᵀ`` as ``B.T`` of a C-ordered ``B``: no copy, and
            each interaction reads one row of ``B``), and no dense ``U × I`` matrix is built.
        item_table: ``[I, d]`` item vectors; ``score(u, i) = user_table[u] · item_table[i]``.
        test: ``U × I`` sparse matrix of the held-out items to find (any non-zero entry
            counts once).
        exclude: one sparse ``U × I`` matrix or a sequence of them (e.g. train and
            validation): their items are masked out of each user's ranking.
        ks: cut-offs K; each must be in ``1..I``.
        batch_size: most users per block.
        extras: also report ``recall_trunc@K = hits / min(|test_u|, K)``.
        sample_users: rank only a uniform sample (without replacement, drawn with
            ``seed``) of this many of the ``N`` users with test items, and report each
            mean's 95% confidence half-width; ``≥ N`` ranks everyone (half-widths 0).
            None (default): everyone, without the sampling keys.
        seed: the seed of the user sample: the same seed gives the same users.
        max_block_scores: most scores per block; a block has
            ``clamp(max_block_scores // I, 1, batch_size)`` users, so memory is bounded
            by about ``max(max_block_scores, I)`` scores whatever ``U`` and ``I``.

    Returns:
        ``{"recall@K", "ndcg@K", "precision@K", "hitrate@K"[, "recall_trunc@K"]}`` for each
        K (floats, means over evaluated users; NaN when no user has a test item), plus
        ``"users_evaluated"`` (the ``N`` users with test items) and ``"users_skipped"``
        (the others). With ``sample_users``, the means are over the sampled users and it
        adds ``"<metric>@K_ci95"``, the half-width ``h`` of the 95% interval
        ``mean ± h`` (see :mod:`tfdirectspec.evaluation.sampled`), and
        ``"users_sampled"``, how many users were ranked.

    Raises:
        InputError: a K outside ``1..I`` (the message names ``--ks``), mismatched shapes,
            a non-positive ``batch_size``, ``max_block_scores`` or ``sample_users``.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> users = np.eye(2, dtype=np.float32)
        >>> items = np.array([[1, 0], [0, 1], [0.5, 0.5]], dtype=np.float32)
        >>> test = sp.csr_matrix(np.array([[0, 0, 1], [0, 1, 0]]))
        >>> train = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]]))
        >>> m = full_ranking_metrics(users, items, test, exclude=train, ks=(1,))
        >>> m["recall@1"], m["users_evaluated"]
        (1.0, 2)
        >>> m = full_ranking_metrics(users, items, test, exclude=train, ks=(1,), sample_users=2)
        >>> m["users_sampled"], m["users_evaluated"], m["recall@1"], m["recall@1_ci95"]
        (2, 2, 1.0, 0.0)
    """
    user_table, item_table = _checked_tables(user_table, item_table)
    num_users, num_items = user_table.shape[0], item_table.shape[0]
    test, exclude = _checked_matrices(test, exclude, num_users, num_items)
    k_list = check_ks(ks, num_items)
    rows_per_block = block_rows(num_items, batch_size, max_block_scores)

    n_test = np.diff(test.indptr)
    candidates = np.flatnonzero(n_test > 0)
    population = int(candidates.size)
    users = candidates[sample_positions(population, sample_users, seed)]
    names = ("recall", "ndcg", "precision", "hitrate") + (("recall_trunc",) if extras else ())
    if population == 0:
        return _counts(_no_users(names, k_list, sample_users), 0, num_users, sample_users)

    # Only the ranked users' rows are ever touched from here on: the exclusions are cut
    # to them before any copy (a sample of users then costs its rows, not all pairs).
    test_rows = test[users]
    masked_rows = _masked_rows(exclude, users, num_items)
    n_test = n_test[users].astype(np.float64)
    hits, dcg = hits_and_dcg(
        user_table, item_table, users, test_rows, masked_rows, k_list, rows_per_block
    )
    per_user = _per_user(hits, dcg, n_test, k_list, extras)
    n_ranked = int(users.size)
    result = _means(per_user, names, k_list, n_ranked, sample_users, population)
    return _counts(result, population, num_users, sample_users, n_ranked)


def _checked_tables(user_table, item_table) -> tuple:
    """The tables as the ranking takes them, their widths checked.

    A sparse user table (EASE: a user's interaction row x_u, scored x_u · B) stays
    sparse, with a float32 NumPy item table: hits_and_dcg densifies one block of users
    at a time. Otherwise both become float32 tensors.
    """
    if sp.issparse(user_table):
        user_table = sp.csr_matrix(user_table, dtype=np.float32)
        item_table = np.asarray(item_table, dtype=np.float32)  # no copy of a float32 array
        if item_table.ndim != 2:
            raise InputError(f"item_table must be 2-D [rows, d], got shape {item_table.shape}")
    else:
        user_table = as_table(user_table, "user_table", tf.float32)
        item_table = as_table(item_table, "item_table", tf.float32)
    dim, item_dim = user_table.shape[1], item_table.shape[1]
    if dim != item_dim:
        raise InputError(f"user_table and item_table widths differ ({dim} and {item_dim})")
    return user_table, item_table


def _checked_matrices(test, exclude, num_users: int, num_items: int) -> tuple[sp.csr_matrix, list]:
    """``test`` as a binary CSR and ``exclude`` as a list, both checked to be ``U × I``."""
    test = _binary_csr(test, "test")
    if test.shape != (num_users, num_items):
        raise InputError(
            f"test matrix is {test.shape[0]}x{test.shape[1]} but the tables have "
            f"{num_users} users and {num_items} items"
        )
    exclude = [exclude] if sp.issparse(exclude) else list(exclude)
    for j, matrix in enumerate(exclude):
        if not sp.issparse(matrix):
            raise InputError(
                f"exclude[{j}] must be a scipy sparse matrix, got {type(matrix).__name__}"
            )
        if matrix.shape != (num_users, num_items):
            raise InputError(
                f"exclude[{j}] matrix is {matrix.shape[0]}x{matrix.shape[1]} but the tables "
                f"have {num_users} users and {num_items} items"
            )
    return test, exclude


def _no_users(names: Sequence[str], k_list: list[int], sample_users: int | None) -> dict:
    """Every metric NaN (and its half-width, when sampled): no user has a test item."""
    result: dict[str, float] = {}
    for k in k_list:
        for name in names:
            result[f"{name}@{k}"] = float("nan")
            if sample_users is not None:
                result[f"{name}@{k}{CI_SUFFIX}"] = float("nan")
    return result


def _masked_rows(exclude: list, users: np.ndarray, num_items: int) -> sp.csr_matrix:
    """The union of the exclusions' rows of ``users`` (binary, duplicates summed)."""
    masked_rows = sp.csr_matrix((users.size, num_items), dtype=np.float64)
    for j, matrix in enumerate(exclude):
        masked_rows = masked_rows + _binary_csr(sp.csr_matrix(matrix)[users], f"exclude[{j}]")
    masked_rows.sum_duplicates()
    return masked_rows


def _per_user(
    hits: np.ndarray, dcg: np.ndarray, n_test: np.ndarray, k_list: list[int], extras: bool
) -> dict[str, np.ndarray]:
    """Each metric of each ranked user at each K: ``[users, len(k_list)]`` float64."""
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
    return per_user


def _means(
    per_user: dict[str, np.ndarray],
    names: Sequence[str],
    k_list: list[int],
    n_ranked: int,
    sample_users: int | None,
    population: int,
) -> dict[str, float]:
    """The means over the ranked users; sampled: with their 95% half-widths."""
    result: dict[str, float] = {}
    for j, k in enumerate(k_list):
        for name in names:
            result[f"{name}@{k}"] = float(per_user[name][:, j].sum() / n_ranked)
    if sample_users is not None:
        for name in names:
            half = confidence_half_width(per_user[name], population)
            for j, k in enumerate(k_list):
                result[f"{name}@{k}{CI_SUFFIX}"] = float(half[j])
    return result


def _counts(
    result: dict, population: int, num_users: int, sample_users: int | None, ranked: int = 0
) -> dict:
    """Adds the user counts; ``users_sampled`` only to a sampled evaluation."""
    result["users_evaluated"] = population
    result["users_skipped"] = int(num_users - population)
    if sample_users is not None:
        result["users_sampled"] = ranked
    return result
