"""Item-norm calibration: the weight of the item rows' norms in scoring, chosen on validation.

A model scores ``s(u, i) = u · î · ‖i‖^γ`` (:class:`~tfdirectspec.models.RetrievalModel`,
``item_norm_exponent = γ``); ``γ = 1`` is the raw dot product. Losses on normalised rows
(DirectSpec, DirectSpec+, DirectAU) never see the norms: they are what the optimiser left,
longer for the rows it updated more often, so they carry item popularity with a weight
nobody chose. Popularity matters more on dense logs than on sparse ones, so one fixed ``γ``
cannot suit both. After training (best weights restored), :func:`calibrate_item_norms`
ranks the validation split once per ``γ`` of a small grid and keeps the best; training is
unaffected, so the calibrated model is the trained one with ``item_norm_exponent = γ*``
(which is what its config records, to reproduce it without calibrating). The test split is
never read. The per-``γ`` scores go into ``metrics.json`` with the correlation between the
rows' log-norms and the items' log-counts, the evidence that the norms carry popularity.

Example:
    >>> import numpy as np, scipy.sparse as sp
    >>> users = np.ones((4, 2), np.float32)  # every user likes the same direction
    >>> items = np.array([[1, 0], [0.1, 0.1], [3, 3], [0, 1]], np.float32)
    >>> train = sp.csr_matrix(np.eye(4, dtype=np.float32))
    >>> valid = sp.csr_matrix(np.roll(np.eye(4, dtype=np.float32), 1, axis=1))
    >>> result = calibrate_item_norms(users, items, train, valid, ks=(1,), grid=(0.0, 1.0))
    >>> result.exponent, sorted(result.scores)
    (1.0, [0.0, 1.0])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from tfdirectspec.evaluation import full_ranking_metrics

#: The exponents tried: cosine (0) to a strong popularity weight (6); 1 is the raw score.
GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The chosen exponent and what each candidate scored.

    Attributes:
        exponent: the chosen ``γ*``.
        scores: ``γ -> validation monitor`` for every candidate.
        valid: the full validation metrics at ``γ*``.
        norm_popularity_correlation: Pearson's r of ``log ‖i‖`` and ``log (1 + count_i)``
            over the items with a non-zero row (None when either is constant).
    """

    exponent: float
    scores: dict[float, float]
    valid: dict[str, float]
    norm_popularity_correlation: float | None

    def record(self) -> dict[str, Any]:
        """The ``metrics.json`` entry (JSON keys are strings)."""
        return {
            "item_norm_exponent": self.exponent,
            "valid_by_exponent": {f"{g:g}": v for g, v in self.scores.items()},
            "norm_popularity_correlation": self.norm_popularity_correlation,
        }


def calibrate_item_norms(
    users: np.ndarray,
    items: np.ndarray,
    train: sp.csr_matrix,
    valid: sp.csr_matrix,
    ks: Sequence[int] = (10, 20),
    monitor: str | None = None,
    grid: Sequence[float] = GRID,
    **ranking: Any,
) -> Calibration:
    """Chooses ``γ`` in ``grid`` that maximises validation ``monitor`` (ties: the raw ``γ = 1``,
    then the smaller ``γ``).

    Args:
        users, items: the raw ``[U, d]`` and ``[I, d]`` tables (``γ = 1``).
        train: masked out of each ranking.
        valid: the held-out items to find.
        ks: cut-offs of the reported metrics.
        monitor: the metric to maximise (default ``ndcg@<largest K>``).
        grid: the candidate exponents.
        **ranking: passed to :func:`~tfdirectspec.evaluation.full_ranking_metrics`
            (``batch_size``, ``sample_users``, ``seed``).
    """
    monitor = monitor or f"ndcg@{max(ks)}"
    norms = np.linalg.norm(items.astype(np.float64), axis=1)
    unit = items / np.where(norms > 0, norms, 1.0)[:, None].astype(items.dtype)
    results = {}
    for exponent in sorted(grid, key=lambda g: (g != 1.0, g)):  # raw first: it wins ties
        scaled = (unit * (norms**exponent)[:, None]).astype(np.float32)
        results[float(exponent)] = full_ranking_metrics(
            users, scaled, valid, exclude=[train], ks=ks, extras=False, **ranking
        )
    best = max(results, key=lambda g: results[g][monitor])
    scores = {g: results[g][monitor] for g in sorted(results)}
    return Calibration(best, scores, results[best], _norm_popularity_correlation(norms, train))


def _norm_popularity_correlation(norms: np.ndarray, train: sp.csr_matrix) -> float | None:
    """Pearson's r of log-norms and log-counts (None when either is constant)."""
    counts = np.log1p(np.asarray(train.sum(axis=0)).ravel()[norms > 0])
    log_norms = np.log(norms[norms > 0])
    if log_norms.size < 2 or np.ptp(counts) == 0 or np.ptp(log_norms) == 0:
        return None
    return float(np.corrcoef(log_norms, counts)[0, 1])
