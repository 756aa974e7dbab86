"""Collect finished runs into the zoo's results and regenerate ``models/README.md``.

Each run directory's ``metrics.json`` becomes ``models/results/<run name>.json``
(test/valid metrics, erank, timing, peak memory, the hash of the run's config, and the
command that reproduces it, rebuilt from the run's config against its zoo entry); the
README tables are generated from the entries and the result files, never typed by hand.

``models/README.md`` has one row per zoo entry, whose status says whether a result
measures the entry as it is now (see :func:`entry_states`), then the other results
(variants of an entry: other epochs, a validation split, ``--refit``...), then the
entries removed from the zoo (``models/removed/<entry>.md``) with the reason. It also refreshes the
results table of the top-level README (between its ``<!-- results:start -->`` and
``<!-- results:end -->`` markers), which lists every result file.

Every file is written to a temporary name and renamed into place, so a kill leaves
each one old or new, never half-written (``measure_zoo.py`` relies on it).

Run: ``python pipelines/release/zoo_results.py RUN_DIR [RUN_DIR ...] [--name NAME ...]``
     ``python pipelines/release/zoo_results.py``   (only regenerate the tables)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.hyperparameters import unused_keys
from tfdirectspec.training.run_dir import Run
from tfdirectspec.training.zoo import (
    config_hash,
    entry_name,
    find_entry,
    list_entries,
    resolve_entry,
    result_keys,
    zoo_defaults,
)

MODELS = Path(__file__).resolve().parents[2] / "models"


def removed_entries(models: Path = MODELS) -> dict[str, str]:
    """Entries taken out of the zoo: ``models/removed/<entry>.md`` holds why (one paragraph).

    Listed under "Removed entries" in ``models/README.md``; an entry file still present is
    not measured any more.
    """
    folder = models / "removed"
    return {p.stem: p.read_text().strip() for p in sorted(folder.glob("*.md"))}


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


def write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_result(path: Path, result: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(result, indent=2) + "\n")


def collect(run_dir: Path, name: str | None, models: Path = MODELS) -> Path:
    """Writes the result file of the finished run ``run_dir``; returns its path.

    ``name`` is the result's entry name (default: the run's config ``name``); the file is
    ``<models>/results/<name>-e<epochs run>[-valid][-refit].json``.
    """
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
        "config_hash": config_hash(config),
        "config": config,
    }
    results = models / "results"
    results.mkdir(parents=True, exist_ok=True)
    suffix = ("-valid" if config["valid_fraction"] else "") + ("-refit" if refit else "")
    path = results / f"{name}-e{epochs}{suffix}.json"
    _write_result(path, result)
    return path


def _command(config: dict, refit: bool) -> str:
    return reproduce_command(config) + (" --refit" if refit else "")


def _fmt(value, digits=4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def read_results(models: Path = MODELS) -> list[tuple[Path, dict[str, Any]]]:
    """Every result file of the zoo with its contents, by file name."""
    return [(p, json.loads(p.read_text())) for p in sorted((models / "results").glob("*.json"))]


def refresh_commands(models: Path = MODELS) -> None:
    """Rebuilds each result's command from its config against the entry as it is now.

    A result keeps the config it ran with; when an entry's defaults change later, the flags
    that reproduce the old run change too (e.g. ``--optimizer sgd`` appears).
    """
    for path, result in read_results(models):
        command = _command(result["config"], result.get("refit", False))
        if result["command"] != command:
            result["command"] = command
            _write_result(path, result)


def refresh_hashes(models: Path = MODELS) -> list[Path]:
    """Sets each result's ``config_hash`` to the hash of its recorded config under the
    current rule; returns the files changed.

    The rule (:func:`~tfdirectspec.training.zoo.result_keys`) grows with the config: a key
    added later enters every hash, at its default in a run recorded before it existed (the
    default keeps the old behaviour). So :func:`entry_states` compares entries with the hash
    recomputed from each result's config, and this keeps the recorded one equal to it (it
    also filled in the hash of the results collected before hashes were recorded).
    """
    changed = []
    for path, result in read_results(models):
        digest = config_hash(result["config"])
        if result.get("config_hash") == digest:
            continue
        result.pop("config_hash", None)
        config = result.pop("config")
        _write_result(path, {**result, "config_hash": digest, "config": config})
        changed.append(path)
    return changed


@dataclasses.dataclass(frozen=True)
class EntryState:
    """Where a zoo entry stands against the result files.

    Attributes:
        name: the entry (file stem).
        status: ``current`` (a result has the entry's hash), ``stale`` (results of the
            entry, none with its hash), ``missing`` (no result of the entry), ``invalid``
            (the entry does not resolve) or ``removed`` (in ``models/removed/``).
        path: the entry's file.
        config: the entry's resolved config (None when invalid).
        config_hash: its :func:`~tfdirectspec.training.zoo.config_hash` (None when invalid).
        result: the current result's file; when stale, the closest result of the entry.
        note: invalid: the error; stale: what differs; removed: the reason.
    """

    name: str
    status: str
    path: Path | None
    config: dict[str, Any] | None = None
    config_hash: str | None = None
    result: Path | None = None
    note: str = ""


def entry_states(models: Path = MODELS) -> list[EntryState]:
    """The state of every entry of ``models`` (and of every removed one), by name.

    An entry is *current* when a result named for it (``"name"``) has the entry's config
    hash and is not a ``--refit`` result (an entry's command has no ``--refit``); the hash
    is recomputed from the result's recorded config (see :func:`refresh_hashes`).
    Otherwise it is *stale* when some non-refit result is named for it (the one shown
    differs from the entry in the fewest result keys) and *missing* when none is.
    """
    results = read_results(models)
    states = []
    removed = removed_entries(models)
    for name in sorted(set(list_entries([models])) | set(removed)):
        path = models / f"{name}.toml"
        if name in removed:
            where = path if path.is_file() else None
            states.append(EntryState(name, "removed", where, note=removed[name]))
            continue
        try:
            config = resolve_entry(path).to_dict()
        except Exception as error:  # any failure to resolve is the entry's state, shown
            states.append(EntryState(name, "invalid", path, note=f"{error}"))
            continue
        states.append(_state_of(name, path, config, results))
    return states


def _state_of(
    name: str, path: Path, config: dict[str, Any], results: list[tuple[Path, dict[str, Any]]]
) -> EntryState:
    """The state of the resolved entry ``name`` against ``results``."""
    digest = config_hash(config)
    own = [(p, r) for p, r in results if r["name"] == name and not r.get("refit")]
    for file, result in own:
        if config_hash(result["config"]) == digest:
            return EntryState(name, "current", path, config, digest, file)
    if not own:
        return EntryState(name, "missing", path, config, digest)
    file, result = min(own, key=lambda item: len(differences(item[1]["config"], config)))
    note = describe(differences(result["config"], config))
    return EntryState(name, "stale", path, config, digest, file, note)


def differences(config: dict[str, Any], entry: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The result keys whose value in ``config`` differs from ``entry``'s: key -> (run, entry)."""
    ran, wanted = result_keys(config), result_keys(entry)
    keys = sorted(set(ran) | set(wanted))
    return {k: (ran.get(k), wanted.get(k)) for k in keys if ran.get(k) != wanted.get(k)}


def describe(diff: dict[str, tuple[Any, Any]], most: int = 3) -> str:
    """``epochs 20 (entry 300)``: what a run did differently from its entry (``most`` keys).

    Empty when nothing differs.
    """
    parts = [f"{key} {ran} (entry {wanted})" for key, (ran, wanted) in list(diff.items())[:most]]
    if len(diff) > most:
        parts.append(f"+{len(diff) - most} more")
    return ", ".join(parts)


HEADER = (
    "| epochs (best) | NDCG@20 | Recall@20 | NDCG@10 | Recall@10 | valid NDCG@20 "
    "| erank item/user | s/epoch | wall | peak MB | command |"
)
_RULE = "|---|---|---|---|---|---|---|---|---|---|---|"


def _cells(r: dict[str, Any] | None, command: str = "") -> str:
    """The cells of :data:`HEADER` for result ``r`` (dashes and ``command`` when None)."""
    if r is None:
        return "| — " * 10 + f"| `{command}` |"
    t = r["test"]
    wall = "—" if r["wall_seconds"] is None else f"{r['wall_seconds'] / 60:.1f} min"
    peak = "—" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.0f}"
    return (
        f"| {r['epochs_run']} ({r['best_epoch']}) | {_fmt(t.get('ndcg@20'))} "
        f"| {_fmt(t.get('recall@20'))} | {_fmt(t.get('ndcg@10'))} | {_fmt(t.get('recall@10'))} "
        f"| {_fmt(r['valid'].get('ndcg@20'))} "
        f"| {_erank(r['erank'])} | {r['seconds_per_epoch']:.2f} "
        f"| {wall} | {peak} | `{r['command']}` |"
    )


#: Column order of the top README's table: (dataset, tower) as the paper lays them out.
_COLUMNS = tuple((d, t) for d in ("citeulike", "gowalla") for t in ("mf", "lightgcn"))
_TOWER_NAMES = {"mf": "MF", "lightgcn": "LightGCN"}


def _erank(erank: dict[str, float]) -> str:
    """``item / user`` effective ranks; "—" for a model without embeddings (EASE^R)."""
    if "item" not in erank or "user" not in erank:
        return "—"
    return f"{erank['item']:.1f} / {erank['user']:.1f}"


def table(models: Path = MODELS) -> str:
    """The top-level README's table: one row per model (the entry name without its dataset
    and tower), one column per (dataset, tower), test NDCG@20 / Recall@20 of each entry's
    current result ("not measured": no result of the entry as it is now; "—": no such entry;
    details in ``models/README.md``).

    Example of a row: ``| directspec-plus | 0.2336 / 0.2713 | — | — | — |``.
    """
    cells: dict[str, dict[tuple[str, str], str]] = {}
    for state in entry_states(models):
        if state.status == "removed" or state.config is None:
            continue
        column = (state.config["dataset"], state.config["tower"])
        prefix = f"{column[0]}-{column[1]}-"
        model = state.name[len(prefix) :] if state.name.startswith(prefix) else state.name
        row = cells.setdefault(model, {})
        row[column] = "not measured"
        if state.status == "current":
            t = json.loads(state.result.read_text())["test"]
            row[column] = f"{_fmt(t.get('ndcg@20'))} / {_fmt(t.get('recall@20'))}"
    present = {c for row in cells.values() for c in row}
    columns = [c for c in _COLUMNS if c in present] + sorted(present - set(_COLUMNS))
    titles = " | ".join(f"{d} {_TOWER_NAMES.get(t, t)}" for d, t in columns)
    lines = [f"| model | {titles} |", "|---" * (len(columns) + 1) + "|"]
    for model in sorted(cells):
        row = cells[model]
        lines.append(f"| {model} | " + " | ".join(row.get(c, "—") for c in columns) + " |")
    return "\n".join(lines)


def entry_command(name: str) -> str:
    """The command that measures entry ``name``."""
    return f"tfdirectspec train --config models/{name}.toml"


def entries_table(models: Path = MODELS) -> str:
    """One row per entry of the zoo (removed ones aside), with its status, and the totals."""
    states = [s for s in entry_states(models) if s.status != "removed"]
    labels = {"current": "measured", "missing": "not measured"}
    lines = [f"| entry | status {HEADER}", f"|---|---{_RULE}"]
    for s in states:
        status = labels.get(s.status) or f"{s.status}: {s.note}".replace("|", "\\|")
        result = json.loads(s.result.read_text()) if s.result is not None else None
        lines.append(f"| {s.name} | {status} {_cells(result, entry_command(s.name))}")
    return "\n".join(lines) + "\n\n" + totals(states)


def totals(states: list[EntryState]) -> str:
    """How many entries are measured, and the wall time of their current results."""
    count = {k: sum(s.status == k for s in states) for k in ("current", "stale", "missing")}
    current = [s.result for s in states if s.status == "current"]
    walls = [json.loads(path.read_text())["wall_seconds"] for path in current]
    seconds = sum(w for w in walls if w is not None)
    text = (
        f"Measured: {count['current']} of {len(states)} entries ({count['stale']} stale, "
        f"{count['missing']} not measured"
    )
    invalid = len(states) - sum(count.values())
    text += f", {invalid} invalid)" if invalid else ")"
    wall = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
    text += f"; wall time of the measured entries: {wall}"
    unknown = sum(w is None for w in walls)
    return text + (f" ({unknown} without a recorded wall time)." if unknown else ".")


def other_runs_table(models: Path = MODELS) -> str:
    """The results that are no entry's row: variants, refits, results of removed entries."""
    states = {s.name: s for s in entry_states(models)}
    shown = {s.result for s in states.values() if s.status in ("current", "stale")}
    lines = [f"| run | differs from the entry by {HEADER}", f"|---|---{_RULE}"]
    rows = 0
    for path, r in read_results(models):
        if path in shown:
            continue
        lines.append(f"| {path.stem} | {_variant(r, states.get(r['name']))} {_cells(r)}")
        rows += 1
    return "\n".join(lines) if rows else ""


def _variant(result: dict[str, Any], state: EntryState | None) -> str:
    """How the run of ``result`` differs from its entry ``state`` (the other runs' column)."""
    if state is None:
        return "no such entry"
    if state.status == "removed":
        return "removed entry"
    if state.config is None:
        return "entry invalid"
    parts = ["--refit"] if result.get("refit") else []
    parts += [describe(differences(result["config"], state.config))]
    return "; ".join(p for p in parts if p) or "the entry (an earlier run)"


def removed_section(models: Path = MODELS) -> str:
    """The "Removed entries" section: each removed entry with its reason."""
    removed = removed_entries(models)
    if not removed:
        return ""
    lines = ["## Removed entries\n", "Taken out of the zoo; not measured any more.\n"]
    lines += [f"- {name}: {reason}" for name, reason in sorted(removed.items())]
    return "\n".join(lines) + "\n"


INTRO = (
    "# The model zoo\n\n"
    "One TOML file per entry: the hyper-parameters `tfdirectspec train` uses for that "
    "(dataset, tower, loss). `--config FILE` and flags override them.\n\n"
    "## Measured results\n\n"
    "Generated by `python pipelines/release/zoo_results.py` from the runs' `metrics.json` "
    "(files in `results/`); `python pipelines/release/measure_zoo.py` trains every entry "
    "that is not measured as it is now, one at a time (resumable). Test metrics with train "
    "items masked, full ranking. An entry is *measured* when a result records the hash of "
    "the entry's resolved config (the keys that change the result); a *stale* row is the "
    "closest result of an entry whose config has changed since (the status names the "
    "difference). "
    "`best` is the reported epoch: the last one under the authors' protocol "
    "(`--valid-fraction 0`), the best validation NDCG@20 otherwise. s/epoch counts "
    "training steps only, on a shared 2-core CPU; wall is the whole run including "
    "evaluation. Gowalla runs read a local copy through `TFDIRECTSPEC_DATA` (a folder "
    "holding `gowalla/train.tsv` and `gowalla/test.tsv`; otherwise the dataset is "
    "downloaded and checksummed into the cache).\n\n"
)


def readme_text(models: Path = MODELS) -> str:
    """The whole of ``models/README.md``."""
    text = INTRO + entries_table(models) + "\n"
    others = other_runs_table(models)
    if others:
        text += (
            "\n## Other runs\n\nResults that measure a variant of an entry (their command "
            "names the flags that differ from the entry as it is now).\n\n" + others + "\n"
        )
    removed = removed_section(models)
    return text + ("\n" + removed if removed else "")


def write_readme(models: Path = MODELS) -> Path:
    """Regenerates ``models/README.md``."""
    readme = models / "README.md"
    write_atomic(readme, readme_text(models))
    return readme


def update_top_readme(models: Path = MODELS) -> Path:
    """Replaces the table between the results markers of the top-level README."""
    readme = models.parent / "README.md"
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = readme.read_text() if readme.is_file() else ""
    if start not in text or end not in text:
        return readme
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    write_atomic(readme, f"{head}{start}\n{table(models)}\n{end}{tail}")
    return readme


def regenerate(models: Path = MODELS) -> list[Path]:
    """Refreshes the hashes and the commands and regenerates both READMEs' tables."""
    refresh_hashes(models)
    refresh_commands(models)
    return [write_readme(models), update_top_readme(models)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--name", action="append", help="result name per run (default: config)")
    args = parser.parse_args()
    names = args.name or [None] * len(args.runs)
    for run, name in zip(args.runs, names, strict=True):
        print(collect(run, name))
    for path in regenerate():
        print(path)


if __name__ == "__main__":
    main()
