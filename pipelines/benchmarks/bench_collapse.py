"""The collapse study: embedding spectra of four losses on CiteULike with MF.

Trains positive-only, BPR (uniform negatives), DirectSpec and DirectSpec+ for the same
number of epochs (default 40), each at its zoo recipe (``models/citeulike-mf-*.toml``)
apart from the epochs: the authors' recipe (SGD lr 180, decay 0.9995, batch 256, a norm
shrink) for the three normalised losses (positive-only is α = 0), Adam 1e-3 with batch
2048 for BPR; ``collapse.md`` lists each run's recipe from its config. The
effective rank of ``[users; items]`` is recorded after every epoch (and at
initialisation) by :class:`~tfdirectspec.diagnostics.SpectrumSummary`; test NDCG@20 and
Recall@20 are those of the final model (the authors' protocol: no validation split).

Writes, in ``--out-dir`` (default ``docs/``):

- ``collapse.png``: the final normalised spectra (left) and erank over epochs (right);
- ``collapse.md``: the table (erank, NDCG@20, Recall@20), the regime checks and the
  command that regenerated it;
- ``collapse.json``: the raw numbers (spectra, curves, metrics, configs).

It checks the paper's three regimes and exits with status 1 if one fails: complete
collapse (positive-only's erank below 10 within 20 epochs), incomplete collapse (BPR's
final erank below DirectSpec+'s) and balance (DirectSpec+'s final erank above 60 of 64).

    PYTHONPATH=. python pipelines/benchmarks/bench_collapse.py     # ~5-10 min on 2 shared CPU cores
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: (loss, label in the figure and table), in the paper's order of increasing balance.
LOSSES = (
    ("positive-only", "positive-only"),
    ("bpr", "BPR (uniform negatives)"),
    ("directspec", "DirectSpec"),
    ("directspec+", "DirectSpec+"),
)

#: Losses on normalised rows, which take the norm shrink.
NORMALISED = ("positive-only", "directspec", "directspec+")

#: Regime thresholds (issue "Spectrum diagnostics"): positive-only erank at epoch 20, and
#: DirectSpec+'s final erank.
COLLAPSE_EPOCH, COLLAPSE_BELOW, BALANCED_ABOVE = 20, 10.0, 60.0


def run_loss(loss: str, epochs: int, data, seed: int) -> dict:
    """Trains one loss at its zoo recipe; returns its curves, spectrum and test metrics."""
    import keras

    from tfdirectspec.diagnostics import SpectrumSummary
    from tfdirectspec.evaluation import spectrum_stats
    from tfdirectspec.training import TrainConfig, train, zoo_defaults

    config = TrainConfig().updated(zoo_defaults("citeulike", "mf", loss), "zoo")
    # Only the final model is tested (eval_every = epochs: no intermediate evaluations).
    config = config.updated(
        {"epochs": epochs, "eval_every": epochs, "valid_fraction": 0.0, "seed": seed}, "study"
    )
    recorder = SpectrumSummary(None, every=1, train=data.train, image=False, record_initial=True)
    progress = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: print(
            f"  epoch {epoch + 1}: erank {recorder.records[-1]['erank_all']:.2f}, "
            f"loss {logs.get('loss', float('nan')):.4f}",
            file=sys.stderr,
            flush=True,
        )
    )
    start = time.perf_counter()
    result = train(config, data=data, callbacks=[recorder, progress], verbose=0)
    seconds = time.perf_counter() - start
    users, items = result.model.tables()
    stats = spectrum_stats(users, items)
    return {
        "loss": loss,
        "config": config.to_dict(),
        "epochs": [r["epoch"] for r in recorder.records],
        "erank_all": [r["erank_all"] for r in recorder.records],
        "erank_user": [r["erank_user"] for r in recorder.records],
        "erank_item": [r["erank_item"] for r in recorder.records],
        "alignment": [r["alignment"] for r in recorder.records],
        "uniformity": [r["uniformity"] for r in recorder.records],
        "sigma_all": stats.sigma_all.tolist(),
        "final": stats.as_record(),
        "test": {k: result.metrics["test"][k] for k in ("ndcg@20", "recall@20")},
        "seconds": seconds,
        "seconds_per_epoch_median": result.metrics["seconds_per_epoch_median"],
        "failure": result.failure,
    }


def erank_at(run: dict, epoch: int) -> float | None:
    """The run's erank of ``[U; I]`` after ``epoch`` epochs (None if not recorded)."""
    return dict(zip(run["epochs"], run["erank_all"], strict=True)).get(epoch)


def first_epoch_below(run: dict, threshold: float) -> int | None:
    """The first epoch after which the run's erank of ``[U; I]`` is below ``threshold``."""
    return next(
        (e for e, v in zip(run["epochs"], run["erank_all"], strict=True) if v < threshold), None
    )


def check_regimes(runs: dict[str, dict], dim: int) -> list[tuple[str, bool]]:
    """The three regimes as (statement with the numbers, holds)."""
    checks = []
    pos, bpr, dsp = runs.get("positive-only"), runs.get("bpr"), runs.get("directspec+")
    if pos is not None:
        at, below = erank_at(pos, COLLAPSE_EPOCH), first_epoch_below(pos, COLLAPSE_BELOW)
        when = "never" if below is None else f"from epoch {below}"
        statement = (
            f"complete collapse: positive-only erank falls from {pos['erank_all'][0]:.1f} "
            f"to {pos['final']['erank_all']:.2f} (below {COLLAPSE_BELOW:g} {when}; "
        )
        if at is None:  # a budget shorter than COLLAPSE_EPOCH: judge the end
            statement += "the budget ends before epoch 20)"
            checks.append((statement, pos["final"]["erank_all"] < COLLAPSE_BELOW))
        else:
            statement += f"{at:.2f} at epoch {COLLAPSE_EPOCH}, required < {COLLAPSE_BELOW:g})"
            checks.append((statement, at < COLLAPSE_BELOW))
    if bpr is not None and dsp is not None:
        b, d = bpr["final"]["erank_all"], dsp["final"]["erank_all"]
        checks.append(
            (f"incomplete collapse: BPR erank {b:.2f} < DirectSpec+ erank {d:.2f}", b < d)
        )
    if dsp is not None:
        d = dsp["final"]["erank_all"]
        statement = f"balanced: DirectSpec+ erank {d:.2f} > {BALANCED_ABOVE:g} of {dim}"
        checks.append((statement, d > BALANCED_ABOVE))
    return checks


def recipe(config: dict) -> str:
    """A run's training recipe in one line, from its config.

    Example:
        >>> recipe({"loss": "bpr", "optimizer": "adam", "lr": 0.001, "lr_decay": 1.0,
        ...         "batch_size": 2048, "reg": 0.0001})
        'adam lr 0.001, batch 2048, L2 0.0001'
    """
    parts = [f"{config['optimizer']} lr {config['lr']:g}"]
    if config.get("lr_decay", 1.0) != 1.0:
        parts.append(f"decay {config['lr_decay']:g}/epoch")
    parts.append(f"batch {config['batch_size']}")
    if config["loss"] in ("directspec", "directspec+"):
        parts.append(f"α {config['alpha']:g}")
    if config["loss"] == "directspec+":
        parts.append(f"τ {config['tau']:g}")
    if config["loss"] in NORMALISED and config.get("shrink"):  # BPR ignores the shrink
        parts.append(f"shrink {config['shrink']:g}")
    if config.get("reg"):
        parts.append(f"L2 {config['reg']:g}")
    return ", ".join(parts)


def markdown(runs: dict[str, dict], checks, epochs: int, dim: int, command: str) -> str:
    """The ``collapse.md`` report."""
    labels = dict(LOSSES)
    lines = [
        f"# Embedding collapse on CiteULike (MF, d = {dim})",
        "",
        "![spectra and effective rank of the four losses](collapse.png)",
        "",
        f"Each loss trained for {epochs} epochs at its zoo recipe "
        "(`models/citeulike-mf-*.toml`, only the epochs changed):",
        "",
    ]
    lines += [f"- {labels.get(loss, loss)}: {recipe(run['config'])}" for loss, run in runs.items()]
    lines += [
        "",
        "Effective rank (erank) is `exp(−Σ p_k log p_k)`, `p_k = σ_k / Σσ`, of the stacked "
        f"table `[users; items]` (of {dim}), from the {dim} × {dim} Gram matrix. NDCG@20 and "
        "Recall@20 are on the test split, full ranking, train items masked, final model (no "
        "validation split, as the authors do).",
        "",
        f"| loss | erank [U; I] | erank users | erank items | erank at epoch "
        f"{COLLAPSE_EPOCH} | uniformity | NDCG@20 | Recall@20 | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for loss, run in runs.items():
        at = erank_at(run, COLLAPSE_EPOCH)
        lines.append(
            f"| {labels.get(loss, loss)} | {run['final']['erank_all']:.2f} "
            f"| {run['final']['erank_user']:.2f} | {run['final']['erank_item']:.2f} "
            f"| {'—' if at is None else f'{at:.2f}'} "
            f"| {run['final']['uniformity']:.2f} "
            f"| {run['test']['ndcg@20']:.4f} | {run['test']['recall@20']:.4f} "
            f"| {run['seconds_per_epoch_median']:.2f} |"
        )
    lines += [
        "",
        "Uniformity (Wang & Isola) is `log mean exp(−2‖x̂ − ŷ‖²)` over pairs of 2048 "
        "sampled users (and items; the mean of both) on normalised rows: 0 when all rows "
        "point the same way, about −4 when they spread over the sphere.",
        "",
        "The paper's three regimes:",
        "",
    ]
    lines += [f"- [{'x' if ok else ' '}] {text}" for text, ok in checks]
    lines += [
        "",
        "s/epoch is the median wall time of an epoch's training steps on a shared 2-core "
        "CPU (other jobs were running): indicative only.",
        "",
        f"Regenerate (writes `collapse.png`, `collapse.md`, `collapse.json` here): `{command}`",
        "",
    ]
    return "\n".join(lines)


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
    from matplotlib.ticker import MaxNLocator

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
    from tfdirectspec.diagnostics.plots import new_figure, spectrum_axes

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


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, train the four losses, write the figure, table and raw numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40, help="epochs for every loss")
    parser.add_argument("--out-dir", default="docs", help="folder for collapse.{png,md,json}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--losses", nargs="+", choices=[loss for loss, _ in LOSSES], help="subset (default all)"
    )
    args = parser.parse_args(argv)
    if args.epochs <= 0:
        parser.error("--epochs must be positive")

    from tfdirectspec.diagnostics.plots import save_figure
    from tfdirectspec.training import TrainConfig, load_data

    data = load_data(TrainConfig(valid_fraction=0.0))
    wanted = args.losses or [loss for loss, _ in LOSSES]
    runs = {}
    for loss, _ in LOSSES:
        if loss in wanted:
            print(f"collapse study: training {loss} for {args.epochs} epochs", file=sys.stderr)
            runs[loss] = run_loss(loss, args.epochs, data, args.seed)
            print(
                f"  erank {runs[loss]['final']['erank_all']:.2f}, "
                f"NDCG@20 {runs[loss]['test']['ndcg@20']:.4f}, "
                f"{runs[loss]['seconds']:.0f} s",
                file=sys.stderr,
            )
    dim = int(next(iter(runs.values()))["config"]["dim"])
    checks = check_regimes(runs, dim)
    command = shlex.join(
        ["PYTHONPATH=.", "python", "pipelines/benchmarks/bench_collapse.py", *sys.argv[1:]]
    )

    labels = dict(LOSSES)
    out = Path(args.out_dir)
    figure = collapse_figure(
        {labels[loss]: run["sigma_all"] for loss, run in runs.items()},
        {labels[loss]: (run["epochs"], run["erank_all"]) for loss, run in runs.items()},
        dim=dim,
        title=f"CiteULike, MF (d = {dim}), {args.epochs} epochs per loss",
    )
    save_figure(figure, out / "collapse.png")
    report = markdown(runs, checks, args.epochs, dim, command)
    (out / "collapse.md").write_text(report)
    record = {
        "command": command,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "checks": [{"claim": text, "holds": ok} for text, ok in checks],
        "runs": runs,
    }
    (out / "collapse.json").write_text(json.dumps(record, indent=1) + "\n")
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    print(f"wrote {out / 'collapse.png'}, {out / 'collapse.md'}, {out / 'collapse.json'}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
