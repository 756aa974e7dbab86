"""Diagnostics of trained embeddings: spectrum statistics, TensorBoard callbacks, figures.

- :class:`SpectrumSummary`: Keras callback writing effective ranks, condition number,
  alignment/uniformity, a histogram and a plot of the spectrum to TensorBoard.
- :func:`spectrum_stats`: the same statistics for any pair of tables.
- :class:`ProjectorExport` / :func:`export_projector`: embeddings and metadata for the
  TensorBoard projector.
- :mod:`tfdirectspec.diagnostics.plots`: the figures (imported on demand: matplotlib).
"""

from __future__ import annotations

from tfdirectspec.diagnostics.projector import ProjectorExport, export_projector
from tfdirectspec.diagnostics.spectrum_summary import (
    SpectrumStats,
    SpectrumSummary,
    alignment,
    normalised,
    spectrum_stats,
    uniformity,
)

__all__ = [
    "ProjectorExport",
    "SpectrumStats",
    "SpectrumSummary",
    "alignment",
    "export_projector",
    "normalised",
    "spectrum_stats",
    "uniformity",
]
