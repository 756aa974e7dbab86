"""Figures of embedding spectra (matplotlib, Agg canvas, no pyplot state).

Shared by the ``spectrum/plot`` TensorBoard image of
:class:`~tfdirectspec.diagnostics.SpectrumSummary`, the ``tfdirectspec spectrum`` command
and ``pipelines/benchmarks/bench_collapse.py``. Figures are built with
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
from matplotlib.ticker import MaxNLocator

from tfdirectspec.evaluation.spectrum import normalised

__all__ = [
    "collapse_figure",
    "erank_axes",
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


def erank_axes(
    ax: Axes,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    dim: int | None = None,
    title: str | None = None,
    legend: bool = True,
) -> Axes:
    """Draws effective rank against epoch for each labelled run.

    Args:
        ax: the axes to draw on.
        curves: label -> (epochs, effective ranks).
        dim: embedding size ``d``; drawn as a dashed line (the maximum effective rank).
        title: axes title.
        legend: draw a legend (off when another panel's legend names the same curves).
    """
    for label, (epochs, values) in curves.items():
        ax.plot(epochs, values, label=label, linewidth=1.6, marker=".", markersize=3)
    if dim:
        ax.axhline(dim, color="grey", linestyle="--", linewidth=1, label=f"d = {dim}")
        ax.annotate(
            f"d = {dim}",
            xy=(0.0, dim),
            xycoords=("axes fraction", "data"),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize="small",
            color="grey",
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("effective rank of [users; items]")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # Headroom above d, so the d line and the balanced curves are not on the frame.
    ax.set_ylim(0, 1.08 * dim if dim else None)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title, fontsize="medium")
    if legend:
        ax.legend(fontsize="small", loc="best")
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


def collapse_figure(
    spectra: Mapping[str, Sequence[float] | np.ndarray],
    eranks: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    dim: int,
    title: str | None = None,
) -> Figure:
    """Two panels: final normalised spectra (left) and effective rank over epochs (right).

    Args:
        spectra: label -> singular values of ``[users; items]`` at the end of training.
        eranks: label -> (epochs, effective ranks of ``[users; items]``).
        dim: embedding size ``d``.
        title: figure title.
    """
    figure = new_figure((11.0, 4.2))
    left, right = figure.subplots(1, 2)
    spectrum_axes(left, spectra, title="spectrum of [users; items] after training")
    # Same labels and colours in both panels: one legend (left) keeps the right panel
    # free for the curves and the zoom inset.
    erank_axes(right, eranks, dim=dim, title="effective rank during training", legend=False)
    _zoom_near_dim(right, eranks, dim)
    if title:
        figure.suptitle(title)
    return figure


def _zoom_near_dim(
    ax: Axes, curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], dim: int
) -> Axes:
    """An inset of ``ax`` showing effective ranks in ``[0.9 d, d]``.

    On the full ``[0, d]`` axis the balanced and the incompletely collapsed runs differ
    by a few units out of ``d`` and overlap; the inset separates them. It sits in the
    middle right of the panel, where a collapsing curve has already passed below.
    """
    inset = ax.inset_axes((0.45, 0.32, 0.52, 0.4))
    for label, (epochs, values) in curves.items():
        inset.plot(epochs, values, label=label, linewidth=1.4)
    inset.axhline(dim, color="grey", linestyle="--", linewidth=1)
    inset.set_ylim(0.9 * dim, 1.005 * dim)
    inset.set_title(f"zoom: {0.9 * dim:g} to {dim}", fontsize="x-small")
    inset.tick_params(labelsize="x-small")
    inset.grid(True, alpha=0.3)
    return inset


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
