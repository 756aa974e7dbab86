"""``tfdirectspec spectrum``: overlay the embedding spectra of trained runs.

    tfdirectspec spectrum runs/a runs/b --out spectra.png [--table all|user|item]

Draws ``σ_k / σ_1`` against ``k`` (log scale) for each run directory, one curve per run
labelled ``<loss> / <tower>`` (plus the run's path when two runs share that label), and
prints a table of the runs' effective ranks (users, items, both stacked) to the terminal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tfdirectspec.errors import InputError

#: Figure formats accepted for ``--out`` (by suffix).
FORMATS = (".png", ".pdf", ".svg")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "spectrum",
        help="plot the normalised embedding spectra of trained runs",
        description="Overlay the normalised singular values of several trained runs and "
        "print their effective ranks.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="trained run directories")
    p.add_argument("--out", required=True, help="figure file to write (.png, .pdf or .svg)")
    p.add_argument(
        "--table",
        choices=("all", "user", "item"),
        default="all",
        help="which spectrum to draw: users and items stacked (default), users or items",
    )
    p.add_argument("--title", help="figure title")


def run_label(metrics: dict) -> str:
    """``<loss> / <tower>`` of a run's ``metrics.json``.

    Example:
        >>> run_label({"config": {"loss": "bpr", "tower": "mf"}})
        'bpr / mf'
    """
    config = metrics.get("config", {})
    return f"{config.get('loss', '?')} / {config.get('tower', '?')}"


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of the runs' effective ranks.

    Example:
        >>> print(format_table([{"label": "bpr / mf", "run": "r", "d": 64,
        ...     "erank_user": 50.0, "erank_item": 55.0, "erank_all": 56.0}]))
        run  loss / tower  d   erank users  erank items  erank all
        r    bpr / mf      64  50.00        55.00        56.00
    """
    header = ["run", "loss / tower", "d", "erank users", "erank items", "erank all"]
    body = [
        [
            r["run"],
            r["label"],
            str(r["d"]),
            f"{r['erank_user']:.2f}",
            f"{r['erank_item']:.2f}",
            f"{r['erank_all']:.2f}",
        ]
        for r in rows
    ]
    widths = [max(len(line[c]) for line in [header, *body]) for c in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in FORMATS:
        raise InputError(f"--out: {out} must end in one of {', '.join(FORMATS)}")
    if out.exists() and out.is_dir():
        raise InputError(f"--out: {out} is a directory")
    runs = [Path(r) for r in args.run_dirs]
    for r in runs:
        if not r.is_dir():
            raise InputError(f"{r}: no such run directory")

    from tfdirectspec.diagnostics.plots import save_figure, spectrum_figure
    from tfdirectspec.evaluation.spectrum import spectrum_stats
    from tfdirectspec.training.run_dir import Run

    rows, spectra = [], []
    for r in runs:
        run_dir = Run.open(r)  # InputError for an unfinished run
        metrics = run_dir.metrics()
        users, items = run_dir.tables()
        stats = spectrum_stats(users, items, user_rows=[], item_rows=[])
        rows.append(
            {
                "run": str(r),
                "label": run_label(metrics),
                "d": int(users.shape[1]),
                "erank_user": stats.erank_user,
                "erank_item": stats.erank_item,
                "erank_all": stats.erank_all,
            }
        )
        spectra.append({"all": stats.sigma_all, "user": stats.sigma_user, "item": stats.sigma_item})

    labels = [row["label"] for row in rows]
    curves = {}
    for row, label, sigma in zip(rows, labels, spectra, strict=True):
        if labels.count(label) > 1:  # same loss and tower: tell the runs apart
            label = f"{label} ({row['run']})"
        while label in curves:  # the same folder given twice
            label += " (again)"
        curves[label] = sigma[args.table]
    table_name = {"all": "users and items", "user": "users", "item": "items"}[args.table]
    figure = spectrum_figure(
        curves,
        title=args.title or f"embedding spectra ({table_name})",
        legend_title="loss / tower",
    )
    save_figure(figure, out)
    print(format_table(rows))
    print(f"figure: {out}")
    return 0
