"""Time-to-quality curves: test metric against epochs and against wall time, per run.

Reads finished run directories trained with ``--track-test`` (their
``metrics.json`` history holds, at every evaluation, the epoch, the wall seconds
since training began, evaluation included, and the test metrics) and draws one
curve per run in two panels: the metric against epochs (does a scheme keep the
method's quality per epoch?) and against wall minutes (what does it buy?).
The test metrics here are curves only: no run selects its model with them.

Writes ``NAME.png``, ``NAME.md`` (a table: seconds per epoch, wall time to
reach a given fraction of the best curve's final value, final metric, peak
memory, and the command that regenerated the files) and ``NAME.json`` (the raw
points) into ``--out-dir``.

Run: ``python pipelines/release/time_to_quality.py --name gowalla --curve "LABEL=RUN_DIR" ...``
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from tfdirectspec.diagnostics.plots import new_figure, save_figure
from tfdirectspec.training.run_dir import Run

# The CPU model for the record comes from the benchmarks' helper module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _machine import cpu_model  # noqa: E402


def load_curve(label: str, run_dir: Path, metric: str) -> dict:
    """One run's curve: ``(epoch, wall minutes, metric)`` points plus its summary."""
    metrics = Run.open(run_dir).metrics()
    points = [
        {
            "epoch": record["epoch"],
            "wall_minutes": record["wall_seconds"] / 60,
            metric: record["test"][metric],
        }
        for record in metrics["history"]
        if "test" in record
    ]
    if not points:
        raise SystemExit(f"{run_dir}: no test points in its history (train with --track-test)")
    config = metrics["config"]
    return {
        "label": label,
        "run": str(run_dir),
        "points": points,
        "seconds_per_epoch": metrics["seconds_per_epoch"],
        "epochs_run": metrics["epochs_run"],
        "wall_minutes": metrics["wall_seconds"] / 60,
        "peak_rss_mb": metrics.get("peak_rss_mb"),
        "final": metrics["test"].get(metric),
        "batch_size": config["batch_size"],
        "group_size": config.get("group_size", 0),
        "lr": config["lr"],
    }


def minutes_to_reach(curve: dict, metric: str, level: float) -> float | None:
    """Wall minutes of the first evaluation at or above ``level`` (None if never)."""
    for point in curve["points"]:
        if point[metric] >= level:
            return point["wall_minutes"]
    return None


def plot(curves: list[dict], metric: str, title: str, path: Path) -> None:
    figure = new_figure(figsize=(11, 4.2))
    by_epoch, by_wall = figure.subplots(1, 2, sharey=True)
    for curve in curves:
        epochs = [p["epoch"] for p in curve["points"]]
        minutes = [p["wall_minutes"] for p in curve["points"]]
        values = [p[metric] for p in curve["points"]]
        by_epoch.plot(epochs, values, marker="o", markersize=3, label=curve["label"])
        by_wall.plot(minutes, values, marker="o", markersize=3, label=curve["label"])
    by_epoch.set_xlabel("epoch")
    by_epoch.set_ylabel(f"test {metric}")
    by_wall.set_xlabel("wall time (minutes, evaluation included)")
    for axis in (by_epoch, by_wall):
        axis.grid(alpha=0.3)
    by_wall.legend(fontsize=8, loc="lower right")
    figure.suptitle(title)
    save_figure(figure, path)


def table(curves: list[dict], metric: str, fraction: float) -> list[str]:
    level = fraction * max(c["final"] for c in curves)
    lines = [
        f"| run | batch / group | lr | s per epoch | epochs | minutes to {metric} ≥ {level:.4f} "
        f"| final {metric} | wall min | peak MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in curves:
        reach = minutes_to_reach(c, metric, level)
        group = c["group_size"] or "whole"
        lines.append(
            f"| {c['label']} | {c['batch_size']} / {group} | {c['lr']:g} "
            f"| {c['seconds_per_epoch']:.1f} | {c['epochs_run']} "
            f"| {'not reached' if reach is None else f'{reach:.1f}'} | {c['final']:.4f} "
            f"| {c['wall_minutes']:.1f} | {c['peak_rss_mb'] or 0:.0f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="time-to-quality curves of finished runs")
    parser.add_argument("--name", required=True, help="base name of the written files")
    parser.add_argument(
        "--curve", action="append", required=True, metavar="LABEL=RUN_DIR", help="one per run"
    )
    parser.add_argument("--metric", default="ndcg@20")
    parser.add_argument("--title", default="")
    parser.add_argument(
        "--fraction", type=float, default=0.95, help="reach level, × the best final value"
    )
    parser.add_argument("--note", default="", help="a paragraph for the table's file")
    parser.add_argument("--out-dir", type=Path, default=Path("docs/time_to_quality"))
    args = parser.parse_args(argv)

    curves = []
    for spec in args.curve:
        label, sep, run_dir = spec.rpartition("=")
        if not sep:
            parser.error(f"--curve {spec!r}: expected LABEL=RUN_DIR")
        curves.append(load_curve(label, Path(run_dir), args.metric))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    title = args.title or args.name
    plot(curves, args.metric, title, args.out_dir / f"{args.name}.png")
    command = "python pipelines/release/time_to_quality.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        f"# {title}",
        "",
        f"![curves]({args.name}.png)",
        "",
        *table(curves, args.metric, args.fraction),
        "",
        *([args.note, ""] if args.note else []),
        f"Machine: {cpu_model()}. Regenerate: `{command}`",
        "",
    ]
    (args.out_dir / f"{args.name}.md").write_text("\n".join(lines))
    (args.out_dir / f"{args.name}.json").write_text(
        json.dumps({"metric": args.metric, "command": command, "curves": curves}, indent=1)
    )
    print("\n".join(table(curves, args.metric, args.fraction)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
