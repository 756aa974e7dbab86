"""Evaluation: full-ranking top-K metrics and embedding-spectrum statistics."""

from __future__ import annotations

from tfdirectspec.evaluation.ranking import full_ranking_metrics
from tfdirectspec.evaluation.spectrum import effective_rank, singular_values, spectrum_summary

__all__ = ["effective_rank", "full_ranking_metrics", "singular_values", "spectrum_summary"]
