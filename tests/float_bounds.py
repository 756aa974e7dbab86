"""Rounding-error bounds for the suite's floating-point assertions.

A tolerance read off one machine's output fails on another: TensorFlow (oneDNN/Eigen) and
NumPy (OpenBLAS) pick other kernels, and so other summation orders, on AVX-512 Intel and
AVX2 AMD processors. The tests therefore take their tolerances from these bounds, which
depend only on the precision and the size of the computation (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., §3.1: a sum of ``k`` products carries a
relative error of at most ``γ_k = k·u / (1 − k·u)`` of the sum of the products' moduli,
with ``u`` the unit roundoff, half the machine epsilon).
"""

from __future__ import annotations

import numpy as np


def unit_roundoff(dtype) -> float:
    """``u``: half of the machine epsilon (5.96e-8 for float32, 1.11e-16 for float64)."""
    return float(np.finfo(dtype).eps) / 2


def gamma(k: int, dtype) -> float:
    """``γ_k = k·u / (1 − k·u)``: the relative error bound of a ``k``-term sum of products."""
    ku = k * unit_roundoff(dtype)
    return ku / (1 - ku)


def dot_error_bound(a, b, dtype=np.float32) -> np.ndarray:
    """Bound on ``|fl(a @ b.T) − a @ b.T|`` for rows of ``a`` and ``b`` in ``dtype``.

    Any summation order satisfies it, so it holds for every BLAS kernel. Both operands are
    taken as already rounded to ``dtype`` (tables stored in float32).
    """
    a, b = np.abs(np.asarray(a, np.float64)), np.abs(np.asarray(b, np.float64))
    return gamma(a.shape[-1], dtype) * (a @ b.T)


def rank_one_erank_excess(num_rows: int, dim: int) -> float:
    """Bound on ``effective_rank − 1`` for an exactly rank-one table, computed in float64.

    ``effective_rank`` takes singular values from the eigenvalues of the float64 Gram matrix
    ``AᵀA``. For a rank-one ``A = x yᵀ``, ``|A|ᵀ|A|`` has norm ``λ₁ = σ₁²``, so forming the
    Gram perturbs it by at most ``γ_n λ₁`` and a backward-stable symmetric eigensolver by
    about ``d·u·λ₁`` more: every eigenvalue that should be 0 lies within
    ``ε = (γ_n + d·u)·λ₁`` of it (Weyl), and each spurious singular value is at most
    ``q·σ₁`` with ``q = √((γ_n + d·u))``. With ``p_k ≤ q`` for the ``d − 1`` spurious ones,
    ``p₁ ≥ 1 / (1 + (d − 1) q)`` and ``−p log p`` increasing below ``1/e``, the entropy is at
    most ``H = (d − 1)·q·(1 − log q)``, and the effective rank at most ``exp(H)``.
    """
    eigen_error = gamma(num_rows, np.float64) + dim * unit_roundoff(np.float64)
    q = float(np.sqrt(eigen_error))
    entropy = (dim - 1) * q * (1.0 - np.log(q))
    return float(np.expm1(entropy))


def central_difference_atol(f_abs: float, h: float, terms: int) -> float:
    """Absolute error bound of ``(f(x + h) − f(x − h)) / 2h`` from rounding in float64.

    Each evaluation of ``f`` (a reduction over ``terms`` float64 operations of values of
    magnitude about ``f_abs``) is off by at most ``γ_terms·f_abs``; the difference of two of
    them divided by ``2h`` is off by at most ``γ_terms·f_abs / h``. The truncation error
    (``h²/6·|f'''|``, 1e-12 for ``h = 1e-6``) is far below it.
    """
    return gamma(terms, np.float64) * f_abs / h
