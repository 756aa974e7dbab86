"""EASE^R (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

With ``X`` the binary users × items train matrix and λ > 0 the L2 weight, EASE^R solves

    min_B ‖X − X B‖²_F + λ ‖B‖²_F   subject to diag(B) = 0,

whose closed form is

    G = XᵀX + λ I,   P = G⁻¹,   B = I − P · diag(1 / diag(P))   (B_ij = −P_ij / P_jj, B_jj = 0),

and a user's scores are ``x_u B`` (the user's row of ``X B``). Ranking therefore needs
the items × items matrix ``B``; the users are scored in blocks (``X_block · B``,
:func:`~tfdirectspec.evaluation.full_ranking_metrics` with the sparse ``X`` as its user
table and ``Bᵀ`` as its item table), never all users at once, and no dense users × items
matrix is ever built: the Gram matrix is computed from the CSR (``XᵀX`` sparse, then
densified in place).

Precision: float32. ``G`` is symmetric positive definite (λ > 0), so ``P`` comes from a
Cholesky factorisation done in place (LAPACK ``potrf``/``potri``): one items² matrix is
the whole working memory, 4 bytes an entry in float32 against 8 in float64 (CiteULike's
16,980 items: 1.15 GB against 2.3 GB). The condition number of ``G`` is at most
(‖XᵀX‖₂ + λ)/λ, and only the order of each user's scores matters; on CiteULike
(λ = 25) the float32 and float64 item tables agree to about 1e-6 relative and their
validation NDCG@20 to the fourth digit (``tests/test_baselines_ease.py`` checks float32 against a
direct float64 solve).

Memory limit (:func:`check_ease_fits`): the fit needs ``items² × 4`` bytes for ``G`` →
``P`` → ``B``, and the sparse Gram matrix (12 bytes a non-zero, at most
``min(items², Σ_u n_u²)``); the run then holds ``B`` as the model's weight and writes the
model file from a copy of it, so three ``items² × 4`` copies are planned in all (CiteULike,
16,980 items: peak resident memory 4.0 GB measured, against 3.7 GB planned plus the
process's 0.6 GB). A catalog whose need exceeds 90 % of the memory available now
(``MemAvailable`` of ``/proc/meminfo``) is refused with one line before anything is
computed; 38,000 items need about 17.3 GB plus the Gram matrix, 100,000 items 120 GB.

Example:
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]], np.float32))
    >>> item_table = ease_item_table(X, reg=1.0)   # Bᵀ: scores = X · B = X · item_tableᵀ
    >>> bool(np.allclose(np.diag(item_table), 0)), item_table.shape, item_table.dtype
    (True, (3, 3), dtype('float32'))
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from tfdirectspec.parameters import ParameterError, check_positive

#: Share of the available memory a fit may plan to use.
MEMORY_SHARE = 0.9
#: items × items float32 arrays a run holds at its peak (the fit's, the model's, the file's).
DENSE_COPIES = 3
#: Bytes a non-zero of the sparse Gram matrix takes (float32 value, int32 index, some slack).
GRAM_ENTRY_BYTES = 12
#: Rows of ``P`` mirrored at a time when symmetrising ``potri``'s upper triangle.
_MIRROR_ROWS = 1024


def ease_memory_bytes(num_items: int, gram_nonzeros: int | None = None, itemsize: int = 4) -> int:
    """Bytes an EASE fit of ``num_items`` items needs at its peak (see the module docstring).

    Args:
        num_items: the catalog size ``I``.
        gram_nonzeros: non-zeros of ``XᵀX`` (default: ``I²``, the dense bound).
        itemsize: bytes per entry of the dense matrices (4: float32).

    Example:
        >>> round(ease_memory_bytes(16980, 0) / 1e9, 2)
        3.46
    """
    dense = int(num_items) ** 2 * itemsize
    gram = int(num_items) ** 2 if gram_nonzeros is None else int(gram_nonzeros)
    return DENSE_COPIES * dense + GRAM_ENTRY_BYTES * gram


def available_memory_bytes() -> int:
    """``MemAvailable`` of ``/proc/meminfo`` (elsewhere: physical memory via ``sysconf``)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gram_nonzeros_bound(train: sp.csr_matrix) -> int:
    """An upper bound of the non-zeros of ``XᵀX``: ``min(I², Σ_u n_u²)``."""
    counts = np.diff(sp.csr_matrix(train).indptr).astype(np.int64)
    return int(min(train.shape[1] ** 2, int((counts**2).sum())))


def check_ease_fits(train: sp.csr_matrix, available: int | None = None) -> int:
    """Raises a one-line :class:`ParameterError` (``--loss ease …``) when the fit would not fit.

    Args:
        train: the users × items matrix EASE would be fit on.
        available: bytes available (default: :func:`available_memory_bytes`).

    Returns:
        The bytes the fit needs.

    Example:
        >>> X = sp.csr_matrix((10, 40000), dtype=np.float32)
        >>> try:
        ...     check_ease_fits(X, available=2 * 10**9)
        ... except ParameterError as error:
        ...     print(error)  # doctest: +ELLIPSIS
        loss ease needs a dense items × items matrix: 40,000 items need 19.2 GB, ...
    """
    num_items = int(train.shape[1])
    need = ease_memory_bytes(num_items, gram_nonzeros_bound(train))
    have = available_memory_bytes() if available is None else int(available)
    if need > MEMORY_SHARE * have:
        raise ParameterError(
            "loss",
            f"ease needs a dense items × items matrix: {num_items:,} items need "
            f"{need / 1e9:.1f} GB, {have / 1e9:.1f} GB of memory is available "
            f"(at most {MEMORY_SHARE:.0%} of it is used); train loss ials instead",
        )
    return need


def ease_item_table(
    train: sp.csr_matrix, reg: float, dtype: type = np.float32, check_memory: bool = True
) -> np.ndarray:
    """EASE^R's ``Bᵀ``: the item table whose rows score items, ``scores = X · item_tableᵀ``.

    ``B = I − P · diag(1 / diag(P))`` (column ``j`` of ``P`` divided by ``P_jj``, negated,
    with a zero diagonal) is computed in place in one C-ordered ``I × I`` array, and
    ``Bᵀ`` is returned as its transposed view (no copy): ``item_table.T`` is ``B`` itself,
    whose rows a sparse user block ``X_block · B`` reads (one row per interaction; see
    :func:`~tfdirectspec.evaluation.full_ranking_metrics` with a sparse user table).

    Args:
        train: the binary users × items matrix ``X`` (any non-zero counts as 1).
        reg: λ > 0 (``--reg`` of ``--loss ease``).
        dtype: float32 (default) or float64.
        check_memory: refuse a catalog that does not fit (:func:`check_ease_fits`).

    Returns:
        ``Bᵀ``, an ``[I, I]`` array of ``dtype``, the transposed view of the C-ordered ``B``.

    Raises:
        ParameterError: λ ≤ 0, or the catalog does not fit in memory.
    """
    check_positive("reg", reg)
    X = sp.csr_matrix(train, dtype=dtype, copy=True)
    X.sum_duplicates()
    X.data[:] = 1
    if check_memory:
        check_ease_fits(X)
    num_items = X.shape[1]
    gram = (X.T @ X).tocsr()  # sparse items × items co-occurrence counts
    G = np.zeros((num_items, num_items), dtype=dtype)
    gram.toarray(out=G)
    del gram
    G[np.diag_indices(num_items)] += dtype(reg)
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (G,))
    # Fortran order of the C array is its transpose; G is symmetric, so factorising the
    # transpose in place (lower=False on the Fortran view) is factorising G.
    factor, info = potrf(G.T, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise ParameterError("reg", f"leaves XᵀX + λI not positive definite (LAPACK info {info})")
    P, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise ParameterError("reg", f"leaves XᵀX + λI singular (LAPACK info {info})")
    P = P.T  # back to the C view of the same memory: its lower triangle holds P
    _mirror_lower(P)
    diag = P.diagonal().copy()
    P /= -diag[None, :]  # column j / P_jj: B off the diagonal, C-ordered
    P[np.diag_indices(num_items)] = 0.0
    return P.T  # Bᵀ as a view: scoring X · B reads rows of the C-ordered B


def _mirror_lower(P: np.ndarray) -> None:
    """Copies the lower triangle of ``P`` onto its upper one, in row blocks (in place)."""
    n = P.shape[0]
    for start in range(0, n, _MIRROR_ROWS):
        stop = min(start + _MIRROR_ROWS, n)
        block = P[start:stop, start:stop]
        block[...] = np.tril(block) + np.tril(block, -1).T
        if stop < n:
            P[start:stop, stop:] = P[stop:, start:stop].T


def ease_scores(train: sp.csr_matrix, item_table: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Dense scores ``X[users] · B`` of a block of users (for small checks and tests).

    Example:
        >>> X = sp.csr_matrix(np.eye(3, dtype=np.float32))
        >>> ease_scores(X, np.zeros((3, 3), np.float32), np.arange(2)).shape
        (2, 3)
    """
    rows = sp.csr_matrix(train)[np.asarray(users)]
    rows = rows.astype(item_table.dtype)
    rows.data[:] = 1
    return np.asarray(rows @ item_table.T)
