"""Singular values and effective rank of embedding tables.

For a table ``E`` of shape ``[n, d]`` the singular values are ``σ_k = sqrt(λ_k(EᵀE))``, taken
from the ``d × d`` Gram matrix ``G = EᵀE`` accumulated in float64 over row chunks, so tables
of millions of rows cost ``O(n d²)`` time and ``O(d²)`` extra memory, and no ``n × n``
product is ever formed. (Going through ``G`` squares the condition number: singular values
below about ``1e-8 · σ_max`` are not resolved, which does not matter for the effective rank.)

The effective rank (Roy & Vetterli, 2007) is

    erank(E) = exp(−Σ_k p_k log p_k),   p_k = σ_k / Σ_j σ_j,

over the non-zero ``σ_k``; it lies between 1 (rank one) and ``min(n, d)`` (all σ equal).
The embeddings of users and items together are the row concatenation ``[U; I]``, whose Gram
matrix is ``UᵀU + IᵀI``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfdirectspec.errors import InputError

__all__ = ["effective_rank", "singular_values", "spectrum_summary"]

# Rows converted to float64 at a time: bounds the temporary copy to a few tens of MB.
_CHUNK_ROWS = 65536


def _as_numpy_2d(table, name: str) -> np.ndarray:
    """The table as a 2-D NumPy array (no copy for NumPy input)."""
    array = table.numpy() if isinstance(table, tf.Tensor) else np.asarray(table)
    if array.ndim != 2:
        raise InputError(f"{name} must be 2-D [rows, d], got shape {array.shape}")
    return array


def _gram(table: np.ndarray) -> np.ndarray:
    """``tableᵀ table`` in float64, accumulated over row chunks."""
    gram = np.zeros((table.shape[1], table.shape[1]), dtype=np.float64)
    for start in range(0, table.shape[0], _CHUNK_ROWS):
        chunk = np.asarray(table[start : start + _CHUNK_ROWS], dtype=np.float64)
        gram += chunk.T @ chunk
    return gram


def singular_values_from_gram(gram: np.ndarray, num_rows: int) -> np.ndarray:
    """Descending singular values, ``min(num_rows, d)`` of them, from a Gram matrix."""
    eigenvalues = np.linalg.eigvalsh(gram)[::-1]
    # Rounding makes eigenvalues that should be zero slightly negative.
    sigma = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return sigma[: min(num_rows, gram.shape[0])]


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
    array = _as_numpy_2d(table, "table")
    return singular_values_from_gram(_gram(array), array.shape[0])


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


def spectrum_summary(user_table, item_table) -> dict[str, float]:
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
        >>> s = spectrum_summary(np.eye(3)[:2], np.eye(3)[2:])
        >>> {k: round(v, 6) for k, v in s.items()}
        {'user': 2.0, 'item': 1.0, 'all': 3.0}
    """
    users = _as_numpy_2d(user_table, "user_table")
    items = _as_numpy_2d(item_table, "item_table")
    if users.shape[1] != items.shape[1]:
        raise InputError(
            f"user_table and item_table widths differ ({users.shape[1]} and {items.shape[1]})"
        )
    user_gram, item_gram = _gram(users), _gram(items)
    return {
        "user": effective_rank(singular_values_from_gram(user_gram, users.shape[0])),
        "item": effective_rank(singular_values_from_gram(item_gram, items.shape[0])),
        "all": effective_rank(
            singular_values_from_gram(user_gram + item_gram, users.shape[0] + items.shape[0])
        ),
    }
