"""A seeded sample of the users to evaluate, and the 95% confidence interval of a mean.

Ranking all items for every user costs ``O(U · I)``; past a few hundred thousand users a
uniform sample of ``n`` of the ``N`` users with test items (without replacement) gives each
metric's mean to a known precision. Each sampled user is still ranked exactly against all
items: only the users are sampled. For a per-user value ``x`` (e.g. NDCG@20) with sample
mean ``x̄`` and sample standard deviation ``s`` (``ddof = 1``), the 95% interval is
``x̄ ± h`` with the normal approximation and the finite-population correction:

    h = 1.96 · s / √n · √((N − n) / (N − 1))

so ``h = 0`` when ``n = N`` (the exact evaluation), and ``h`` is NaN for ``n = 1 < N``
(no spread can be estimated from one user).
"""

from __future__ import annotations

import numpy as np

from tfdirectspec.errors import InputError

__all__ = ["Z95", "confidence_half_width", "sample_positions"]

#: The normal quantile of a two-sided 95% interval.
Z95 = 1.96


def sample_positions(population: int, size: int | None, seed: int) -> np.ndarray:
    """Sorted positions ``0..population-1`` of a seeded uniform sample without replacement.

    ``size`` None or ``≥ population`` selects everyone (``arange(population)``). The same
    ``(population, size, seed)`` always gives the same sample.

    Args:
        population: ``N``, how many candidates there are.
        size: ``n``, how many to draw (a positive integer), or None for all.
        seed: the seed of ``numpy.random.default_rng``.

    Raises:
        InputError: ``size`` is not a positive integer (the message names ``sample_users``).

    Example:
        >>> sample_positions(10, 4, seed=0).tolist() == sample_positions(10, 4, 0).tolist()
        True
        >>> sample_positions(3, 5, seed=0).tolist()
        [0, 1, 2]
    """
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1
    ):
        raise InputError(f"sample_users must be a positive integer, got {size!r}")
    if size is None or size >= population:
        return np.arange(population)
    rng = np.random.default_rng(seed)
    # Sorted: blocks then hold users in id order, as the exact evaluation does.
    return np.sort(rng.choice(population, size=int(size), replace=False))


def confidence_half_width(values: np.ndarray, population: int) -> np.ndarray:
    """``h = 1.96 · s / √n · √((N − n) / (N − 1))`` for each column of ``values``.

    Args:
        values: ``[n, m]`` (or ``[n]``) per-user values of a sample of ``n`` users.
        population: ``N ≥ n``, how many users the sample was drawn from.

    Returns:
        ``[m]`` (or a scalar) half-widths: 0 when ``n = N``, NaN when ``n = 1 < N``.

    Example:
        >>> float(confidence_half_width(np.array([0.0, 1.0, 0.0, 1.0]), population=4))
        0.0
        >>> round(float(confidence_half_width(np.array([0.0, 1.0, 0.0, 1.0]), 401)), 4)
        0.5637
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n > population:
        raise InputError(f"a sample of {n} users cannot come from {population}")
    if n == population:
        return np.zeros(values.shape[1:])
    if n < 2:
        return np.full(values.shape[1:], np.nan)
    s = values.std(axis=0, ddof=1)
    return Z95 * s / np.sqrt(n) * np.sqrt((population - n) / (population - 1))
