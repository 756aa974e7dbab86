"""Diagnostics of trained embeddings: TensorBoard callbacks and figures.

- :class:`SpectrumSummary`: Keras callback writing effective ranks, condition number,
  alignment/uniformity, a histogram and a plot of the spectrum to TensorBoard (the
  statistics come from :mod:`tfdirectspec.evaluation.spectrum`).
- :class:`ProjectorExport` / :func:`export_projector`: embeddings and metadata for the
  TensorBoard projector.
- :mod:`tfdirectspec.diagnostics.plots`: the figures (imported on demand: matplotlib).
"""

from __future__ import annotations

from tfdirectspec.diagnostics.projector import ProjectorExport, export_projector
from tfdirectspec.diagnostics.spectrum_callback import SpectrumSummary

__all__ = ["ProjectorExport", "SpectrumSummary", "export_projector"]
