"""Collect finished runs into the zoo's results and regenerate ``models/README.md``.

Each run directory's ``metrics.json`` becomes ``models/results/<run name>.json``
(test/valid metrics, erank, timing, peak memory, and the command that
reproduces it, rebuilt from the run's config against its zoo entry); the
README table is generated from all result files, never typed by hand.

It also refreshes the results table of the top-level README (between its
``<!-- results:start -->`` and ``<!-- results:end -->`` markers).

Run: ``python pipelines/release/zoo_results.py RUN_DIR [RUN_DIR ...] [--name NAME ...]``
     ``python pipelines/release/zoo_results.py``   (only regenerate the tables)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.hyperparameters import unused_keys
from tfdirectspec.training.run_dir import Run
from tfdirectspec.training.zoo import entry_name, find_entry, list_entries, zoo_defaults

MODELS = Path(__file__).resolve().parents[2] / "models"
RESULTS = MODELS / "results"

#: Config keys that never go on the command line.
_NOT_FLAGS = {"name", "dataset", "data_dir", "tower", "loss"}


def reproduce_command(config: dict) -> str:
    """The ``tfdirectspec train`` command that reruns a run with this config."""
    base = TrainConfig()
    dataset, tower, loss = config["dataset"], config["tower"], config["loss"]
    name = config.get("name") or entry_name(dataset, tower, loss)
    entry = find_entry(name)
    if entry is not None and name != entry_name(dataset, tower, loss):
        parts = ["tfdirectspec train", f"--config models/{entry.name}"]
        defaults = base.updated(zoo_defaults(dataset, tower, loss), "zoo").to_dict()
        from tfdirectspec.training.config import read_config_file

        defaults.update(read_config_file(entry))
    else:
        parts = ["tfdirectspec train", f"--dataset {dataset} --tower {tower} --loss {loss}"]
        defaults = base.updated(zoo_defaults(dataset, tower, loss), "zoo").to_dict()
    unused = unused_keys(tower, loss)  # e.g. shrink for bpr: no flag, whatever its value
    for key, value in config.items():
        if key in _NOT_FLAGS or key in unused or key not in defaults or defaults[key] == value:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag)
        elif isinstance(value, list):
            parts.append(f"{flag} {' '.join(map(str, value))}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def collect(run_dir: Path, name: str | None) -> Path:
    run = Run.open(run_dir)
    metrics = run.metrics()
    # A --refit run: its command is the selection run's config plus --refit; its test
    # metrics are the refit's, its validation metrics the selection's.
    refit = "selection" in metrics
    config = run.config().to_dict() if refit else metrics["config"]
    name = (
        name or config.get("name") or entry_name(config["dataset"], config["tower"], config["loss"])
    )
    epochs = metrics["epochs_run"]
    result = {
        "name": name,
        "command": _command(config, refit),
        "refit": refit,
        "test": metrics["test"],
        "valid": metrics["selection"]["valid"] if refit else metrics["valid"],
        "best_epoch": metrics["best_epoch"],
        "epochs_run": epochs,
        "erank": metrics["erank"],
        "seconds_per_epoch": metrics["seconds_per_epoch"],
        "wall_seconds": metrics.get("wall_seconds"),
        "peak_rss_mb": metrics.get("peak_rss_mb"),
        "config": config,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = ("-valid" if config["valid_fraction"] else "") + ("-refit" if refit else "")
    path = RESULTS / f"{name}-e{epochs}{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def _command(config: dict, refit: bool) -> str:
    return reproduce_command(config) + (" --refit" if refit else "")


def _fmt(value, digits=4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def refresh_commands() -> None:
    """Rebuilds each result's command from its config against the entry as it is now.

    A result keeps the config it ran with; when an entry's defaults change later, the flags
    that reproduce the old run change too (e.g. ``--optimizer sgd`` appears).
    """
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        command = _command(result["config"], result.get("refit", False))
        if result["command"] != command:
            result["command"] = command
            path.write_text(json.dumps(result, indent=2) + "\n")


def table() -> str:
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    lines = [
        "| entry | epochs (best) | NDCG@20 | Recall@20 | NDCG@10 | Recall@10 | valid NDCG@20 "
        "| erank item/user | s/epoch | wall | peak MB | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["test"]
        wall = "—" if r["wall_seconds"] is None else f"{r['wall_seconds'] / 60:.1f} min"
        peak = "—" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.0f}"
        lines.append(
            f"| {r['name']} | {r['epochs_run']} ({r['best_epoch']}) | {_fmt(t.get('ndcg@20'))} "
            f"| {_fmt(t.get('recall@20'))} | {_fmt(t.get('ndcg@10'))} | {_fmt(t.get('recall@10'))} "
            f"| {_fmt(r['valid'].get('ndcg@20'))} "
            f"| {r['erank']['item']:.1f} / {r['erank']['user']:.1f} | {r['seconds_per_epoch']:.2f} "
            f"| {wall} | {peak} | `{r['command']}` |"
        )
    return "\n".join(lines)


def update_top_readme() -> Path:
    """Replaces the table between the results markers of the top-level README."""
    readme = MODELS.parent / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start not in text or end not in text:
        return readme
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table()}\n{end}{tail}")
    return readme


def write_readme() -> Path:
    readme = MODELS / "README.md"
    intro = (
        "# The model zoo\n\n"
        "One TOML file per entry: the hyper-parameters `tfdirectspec train` uses for that "
        "(dataset, tower, loss). `--config FILE` and flags override them.\n\n"
        "## Measured results\n\n"
        "Generated by `python pipelines/release/zoo_results.py` from the runs' `metrics.json` "
        "(files in `results/`); test metrics with train items masked, full ranking. "
        "`best` is the reported epoch: the last one under the authors' protocol "
        "(`--valid-fraction 0`), the best validation NDCG@20 otherwise. s/epoch counts "
        "training steps only, on a shared 2-core CPU; wall is the whole run including "
        "evaluation. Gowalla runs read a local copy through `TFDIRECTSPEC_DATA` (a folder "
        "holding `gowalla/train.tsv` and `gowalla/test.tsv`; otherwise the dataset is "
        "downloaded and checksummed into the cache).\n\n"
    )
    readme.write_text(intro + table() + "\n" + unmeasured() + "\n")
    return readme


def unmeasured() -> str:
    """The entries that no result file covers yet, with the command that would measure them."""
    measured = {json.loads(p.read_text())["name"] for p in RESULTS.glob("*.json")}
    missing = [name for name in list_entries() if name not in measured]
    if not missing:
        return ""
    lines = [
        "\n## Entries without a measured run yet\n",
        "Their configs are valid (the tests load every entry) but no run of them has been "
        "collected; the command that would measure each:\n",
    ]
    for name in missing:
        lines.append(f"- {name}: `tfdirectspec train --config models/{name}.toml`")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--name", action="append", help="result name per run (default: config)")
    args = parser.parse_args()
    names = args.name or [None] * len(args.runs)
    for run, name in zip(args.runs, names, strict=True):
        print(collect(run, name))
    refresh_commands()
    print(write_readme())
    print(update_top_readme())


if __name__ == "__main__":
    main()
