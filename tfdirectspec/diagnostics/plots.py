"""Figures of embedding spectra (matplotlib, Agg canvas, no pyplot state).

Shared by the ``spectrum/plot`` TensorBoard image of
:class:`~tfdirectspec.diagnostics.SpectrumSummary`, the ``tfdirectspec spectrum`` command
and ``pipelines/benchmarks/bench_collapse.py`` (its collapse figure). Figures are built with
:class:`matplotlib.figure.Figure` on an explicit ``FigureCanvasAgg`` rather than through
``pyplot``, so nothing here touches a global backend or figure registry (safe inside
training processes and threads).

The plotted quantity is the normalised singular value ``σ_k / σ_1`` against its index
``k = 1..d`` on a log scale. The Gram-matrix route resolves ``σ`` only down to about
``1e-8 σ_1`` (:mod:`tfdirectspec.evaluation.spectrum`), so smaller values are drawn at
that floor instead of disappearing from the log axis.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfdirectspec.evaluation.spectrum import normalised

__all__ = [
    "figure_png",
    "new_figure",
    "save_figure",
    "spectrum_axes",
    "spectrum_figure",
]

#: Smallest plotted ``σ_k / σ_1`` (the resolution of the Gram route).
FLOOR = 1e-8


def new_figure(figsize: tuple[float, float] = (6.0, 4.0), **kwargs) -> Figure:
    """A figure with an Agg canvas and constrained layout (labels are never clipped)."""
    figure = Figure(figsize=figsize, layout="constrained", **kwargs)
    FigureCanvasAgg(figure)
    return figure


def spectrum_axes(
    ax: Axes,
    curves: Mapping[str, Sequence[float] | np.ndarray],
    title: str | None = None,
    legend_title: str | None = None,
) -> Axes:
    """Draws ``σ_k / σ_1`` against ``k`` (log y) for each labelled spectrum.

    Args:
        ax: the axes to draw on.
        curves: label -> singular values (any order; sorted descending here).
        title: axes title.
        legend_title: title of the legend box.
    """
    for label, sigma in curves.items():
        sigma = np.sort(np.asarray(sigma, dtype=np.float64))[::-1]
        ax.plot(
            np.arange(1, len(sigma) + 1),
            np.maximum(normalised(sigma), FLOOR),
            label=label,
            linewidth=1.6,
        )
    ax.set_yscale("log")
    ax.set_xlabel(r"singular value index $k$")
    ax.set_ylabel(r"normalised singular value $\sigma_k / \sigma_1$")
    ax.grid(True, which="major", alpha=0.3)
    if title:
        ax.set_title(title, fontsize="medium")
    if curves:
        ax.legend(title=legend_title, fontsize="small", title_fontsize="small")
    return ax


def spectrum_figure(
    curves: Mapping[str, Sequence[float] | np.ndarray],
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 4.0),
    legend_title: str | None = None,
) -> Figure:
    """One axes of normalised spectra, one curve per label (see :func:`spectrum_axes`).

    Example:
        >>> fig = spectrum_figure({"users": [3.0, 1.0], "items": [2.0, 2.0]}, title="demo")
        >>> len(figure_png(fig)) > 0
        True
    """
    figure = new_figure(figsize)
    spectrum_axes(figure.add_subplot(), curves, title=title, legend_title=legend_title)
    return figure


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Saves the figure (format from the suffix), creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    return path
