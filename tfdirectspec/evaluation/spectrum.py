"""Spectrum statistics of embedding tables: singular values, effective rank, geometry.

Everything here is computed without a dense ``users × items`` (or ``n × n``) matrix:

- the singular values of a table ``E`` (``[n, d]``) are ``σ_k = sqrt(λ_k(EᵀE))``, taken
  from the ``d × d`` Gram matrix accumulated in float64 over row chunks, so tables of
  millions of rows cost ``O(n d²)`` time and ``O(d²)`` extra memory. The stacked table
  ``[U; I]`` has the Gram ``UᵀU + IᵀI``. Going through the Gram squares the condition
  number: ``σ < 1e-8 · σ_max`` is not resolved, so ``condition_all`` is capped at
  :data:`MAX_CONDITION` (it does not matter for the effective rank);
- the *normalised* singular values are ``σ_k / σ_1`` (the quantity the paper plots);
- the effective rank (Roy & Vetterli, 2007) is ``exp(−Σ_k p_k log p_k)``, ``p_k = σ_k / Σσ``,
  over the non-zero ``σ_k``: between 1 (rank one) and ``min(n, d)`` (all σ equal);
- alignment and uniformity on unit rows, as defined once in
  :mod:`tfdirectspec.losses.hypersphere` (the DirectAU loss uses the same functions):
  ``alignment`` is the mean over a fixed sample of training pairs, ``uniformity`` of a
  table is over a fixed row sample (an ``m × m`` Gram), and the reported ``uniformity``
  is ``½ (uniformity(U) + uniformity(I))``.

The matrix products run as TensorFlow ops in float64 rather than NumPy: inside a
training process NumPy's BLAS threads compete with TensorFlow's thread pool, which made
the same statistics 10–40 times slower on a 2-core machine. Only the ``d × d``
eigenvalue problem goes to NumPy.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.errors import InputError
from tfdirectspec.evaluation.tables import as_table
from tfdirectspec.losses.hypersphere import alignment as pair_alignment
from tfdirectspec.losses.hypersphere import normalize_rows
from tfdirectspec.losses.hypersphere import uniformity as row_uniformity

__all__ = [
    "MAX_CONDITION",
    "SpectrumStats",
    "alignment",
    "effective_rank",
    "effective_ranks",
    "normalised",
    "sample_pairs",
    "sample_rows",
    "singular_values",
    "singular_values_from_gram",
    "spectrum_stats",
    "spectrum_summary",
    "uniformity",
]

#: Cap of ``condition_all``: the Gram route resolves ``σ`` only down to ~1e-8 ``σ_max``.
MAX_CONDITION = 1e8

#: Rows cast to float64 at a time for the Gram: bounds the temporary copy to tens of MB.
_CHUNK_ROWS = 65536


def gram(table) -> np.ndarray:
    """``tableᵀ table`` in float64, accumulated over row chunks (``d × d``)."""
    table = as_table(table, "table")
    result = tf.zeros([table.shape[1], table.shape[1]], tf.float64)
    for start in range(0, table.shape[0], _CHUNK_ROWS):
        chunk = tf.cast(table[start : start + _CHUNK_ROWS], tf.float64)
        result += tf.linalg.matmul(chunk, chunk, transpose_a=True)
    return result.numpy()


def singular_values_from_gram(gram_matrix: np.ndarray, num_rows: int) -> np.ndarray:
    """Descending singular values, ``min(num_rows, d)`` of them, from a Gram matrix."""
    eigenvalues = np.linalg.eigvalsh(gram_matrix)[::-1]
    # Rounding makes eigenvalues that should be zero slightly negative.
    sigma = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return sigma[: min(num_rows, gram_matrix.shape[0])]


def singular_values(table) -> np.ndarray:
    """Singular values of an embedding table, in descending order.

    Args:
        table: ``[n, d]`` NumPy array or ``tf.Tensor``.

    Returns:
        float64 array of the ``min(n, d)`` singular values, largest first.

    Example:
        >>> import numpy as np
        >>> singular_values(np.diag([3.0, 1.0, 2.0])).round(6).tolist()
        [3.0, 2.0, 1.0]
    """
    table = as_table(table, "table")
    return singular_values_from_gram(gram(table), table.shape[0])


def effective_rank(table_or_singular_values) -> float:
    """Effective rank ``exp(−Σ p_k log p_k)`` with ``p_k = σ_k / Σσ``.

    Args:
        table_or_singular_values: a 2-D ``[n, d]`` table (NumPy or ``tf.Tensor``), or a 1-D
            array of its (non-negative) singular values. Zero singular values are ignored.

    Returns:
        The effective rank, a float in ``[1, min(n, d)]``; 0.0 for an all-zero table.

    Raises:
        InputError: a 1-D input with a negative value, or an input that is neither 1-D
            nor 2-D.

    Example:
        >>> import numpy as np
        >>> round(effective_rank(np.eye(4)), 6), round(effective_rank([5.0, 0.0, 0.0]), 6)
        (4.0, 1.0)
    """
    x = table_or_singular_values
    x = x.numpy() if isinstance(x, tf.Tensor) else np.asarray(x)
    if x.ndim == 2:
        sigma = singular_values(x)
    elif x.ndim == 1:
        sigma = x.astype(np.float64)
        if np.any(sigma < 0):
            raise InputError("singular values must be non-negative")
    else:
        raise InputError(
            f"effective_rank needs a 2-D table or 1-D singular values, got shape {x.shape}"
        )
    sigma = sigma[sigma > 0]
    if sigma.size == 0:
        return 0.0
    p = sigma / sigma.sum()
    return float(np.exp(-np.sum(p * np.log(p))))


def normalised(sigma) -> np.ndarray:
    """Singular values divided by the largest one (all zeros stay zeros).

    Example:
        >>> normalised([4.0, 2.0, 1.0]).tolist()
        [1.0, 0.5, 0.25]
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    top = sigma.max() if sigma.size else 0.0
    return sigma / top if top > 0 else np.zeros_like(sigma)


def alignment(users, items, pairs: np.ndarray) -> float:
    """``mean ‖û_u − î_i‖²`` over the ``(u, i)`` rows of ``pairs`` (normalised rows).

    Args:
        users: ``[U, d]`` user table.
        items: ``[I, d]`` item table.
        pairs: ``[P, 2]`` int array of (user index, item index); ``P ≥ 1``.

    Example:
        >>> import numpy as np
        >>> alignment(np.eye(2), np.eye(2), np.array([[0, 0], [0, 1]]))
        1.0
    """
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise InputError(f"pairs must be a non-empty [P, 2] array, got shape {pairs.shape}")
    u = normalize_rows(tf.cast(tf.gather(users, pairs[:, 0]), tf.float64))
    i = normalize_rows(tf.cast(tf.gather(items, pairs[:, 1]), tf.float64))
    return float(tf.reduce_mean(pair_alignment(u, i)))


def uniformity(table, rows: np.ndarray | None = None) -> float:
    """Uniformity of a table's normalised rows (or of the rows selected by ``rows``).

    Args:
        table: ``[n, d]`` embedding table.
        rows: indices of the rows to use (default: all; keep ``m`` to a few thousand,
            the cost is ``O(m² d)``).

    Returns:
        A float in ``[−8, 0]``; ``nan`` for fewer than two rows.

    Example:
        >>> import numpy as np
        >>> round(uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])), 6)  # antipodal: ‖·‖² = 4
        -8.0
    """
    x = tf.convert_to_tensor(table)
    if rows is not None:
        x = tf.gather(x, np.asarray(rows, dtype=np.int64))
    if int(x.shape[0]) < 2:
        return math.nan
    return float(row_uniformity(normalize_rows(tf.cast(x, tf.float64))))


def sample_pairs(train: sp.spmatrix, size: int, seed: int) -> np.ndarray:
    """``size`` training pairs drawn uniformly without replacement (all if fewer).

    Returns:
        ``[min(size, nnz), 2]`` int64 array of (user, item), sorted by pair order.
    """
    csr = sp.csr_matrix(train)
    nnz = csr.nnz
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(nnz, size=min(size, nnz), replace=False)) if nnz else []
    picks = np.asarray(picks, dtype=np.int64)
    rows = np.searchsorted(csr.indptr, picks, side="right") - 1
    return np.stack([rows, csr.indices[picks].astype(np.int64)], axis=1)


def sample_rows(num_rows: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(size, num_rows)`` distinct rows drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_rows, size=min(size, num_rows), replace=False))


@dataclasses.dataclass(frozen=True)
class SpectrumStats:
    """Spectrum statistics of one ``(user_table, item_table)`` pair.

    Attributes:
        sigma_user, sigma_item, sigma_all: descending singular values of ``U``, ``I`` and
            ``[U; I]`` (float64).
        erank_user, erank_item, erank_all: their effective ranks.
        condition_all: ``σ_max / σ_min`` of ``[U; I]``, capped at :data:`MAX_CONDITION`.
        alignment: mean alignment of the pair sample; ``nan`` when no pairs were given.
        uniformity_user, uniformity_item, uniformity: of the row samples, and their mean.
    """

    sigma_user: np.ndarray
    sigma_item: np.ndarray
    sigma_all: np.ndarray
    erank_user: float
    erank_item: float
    erank_all: float
    condition_all: float
    alignment: float
    uniformity_user: float
    uniformity_item: float
    uniformity: float

    def as_record(self) -> dict[str, float]:
        """JSON-friendly scalars (no arrays)."""
        return {
            "erank_user": self.erank_user,
            "erank_item": self.erank_item,
            "erank_all": self.erank_all,
            "condition_all": self.condition_all,
            "alignment": self.alignment,
            "uniformity_user": self.uniformity_user,
            "uniformity_item": self.uniformity_item,
            "uniformity": self.uniformity,
        }


def _checked_pair(users, items) -> tuple[tf.Tensor, tf.Tensor]:
    users, items = as_table(users, "user_table"), as_table(items, "item_table")
    if users.shape[1] != items.shape[1]:
        raise InputError(
            f"user_table and item_table widths differ ({users.shape[1]} and {items.shape[1]})"
        )
    return users, items


def spectrum_stats(
    users,
    items,
    pairs: np.ndarray | None = None,
    user_rows: np.ndarray | None = None,
    item_rows: np.ndarray | None = None,
) -> SpectrumStats:
    """All spectrum statistics of a pair of tables, from ``d × d`` and ``m × m`` Grams.

    Args:
        users: ``[U, d]`` user table (NumPy or ``tf.Tensor``).
        items: ``[I, d]`` item table.
        pairs: ``[P, 2]`` (user, item) training pairs for the alignment (None: ``nan``).
        user_rows, item_rows: row samples for the uniformity (None: all rows; pass a
            sample for tables beyond a few thousand rows, the cost is ``O(m² d)``; pass
            ``[]`` to skip it: ``nan``).

    Example:
        >>> import numpy as np
        >>> s = spectrum_stats(np.eye(3)[:2], np.eye(3)[2:])
        >>> round(s.erank_all, 6), s.condition_all
        (3.0, 1.0)
    """
    users, items = _checked_pair(users, items)
    user_gram, item_gram = gram(users), gram(items)
    sigma_user = singular_values_from_gram(user_gram, users.shape[0])
    sigma_item = singular_values_from_gram(item_gram, items.shape[0])
    sigma_all = singular_values_from_gram(user_gram + item_gram, users.shape[0] + items.shape[0])
    top, bottom = float(sigma_all[0]), float(sigma_all[-1])
    if top == 0:
        condition = math.nan
    elif bottom <= top / MAX_CONDITION:
        condition = MAX_CONDITION
    else:
        condition = top / bottom
    uni_user = uniformity(users, user_rows)
    uni_item = uniformity(items, item_rows)
    return SpectrumStats(
        sigma_user=sigma_user,
        sigma_item=sigma_item,
        sigma_all=sigma_all,
        erank_user=effective_rank(sigma_user),
        erank_item=effective_rank(sigma_item),
        erank_all=effective_rank(sigma_all),
        condition_all=condition,
        alignment=alignment(users, items, pairs) if pairs is not None and len(pairs) else math.nan,
        uniformity_user=uni_user,
        uniformity_item=uni_item,
        uniformity=0.5 * (uni_user + uni_item),
    )


def effective_ranks(user_table, item_table) -> dict[str, float]:
    """Effective ranks of the user table, the item table and of both stacked.

    Args:
        user_table: ``[U, d]`` user embeddings (NumPy or ``tf.Tensor``).
        item_table: ``[I, d]`` item embeddings, same ``d``.

    Returns:
        ``{"user": erank(U), "item": erank(I), "all": erank([U; I])}``.

    Raises:
        InputError: the two tables have different widths.

    Example:
        >>> import numpy as np
        >>> s = effective_ranks(np.eye(3)[:2], np.eye(3)[2:])
        >>> {k: round(v, 6) for k, v in s.items()}
        {'user': 2.0, 'item': 1.0, 'all': 3.0}
    """
    stats = spectrum_stats(user_table, item_table, user_rows=[], item_rows=[])
    return {"user": stats.erank_user, "item": stats.erank_item, "all": stats.erank_all}


#: The former name of :func:`effective_ranks`.
spectrum_summary = effective_ranks
