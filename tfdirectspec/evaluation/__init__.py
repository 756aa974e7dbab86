"""Evaluation: full-ranking top-K metrics and embedding-spectrum statistics."""

from __future__ import annotations

from tfdirectspec.evaluation.ranking import full_ranking_metrics
from tfdirectspec.evaluation.spectrum import (
    SpectrumStats,
    effective_rank,
    effective_ranks,
    singular_values,
    spectrum_stats,
    spectrum_summary,
)

__all__ = [
    "SpectrumStats",
    "effective_rank",
    "effective_ranks",
    "full_ranking_metrics",
    "singular_values",
    "spectrum_stats",
    "spectrum_summary",
]
