"""Temporary zoo folders for the zoo pipeline tests: entries, finished runs and results.

``write_entry(models, "a", epochs=3)`` writes ``models/a.toml`` (by default a CiteULike
MF BPR entry, which resolves through the real ``citeulike-mf-bpr`` entry without reading
data); ``finished_run(path, config)`` fakes the run directory ``tfdirectspec train``
would leave (``config.json``, ``metrics.json``), which ``zoo_results.collect`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tfdirectspec.training.run_dir import Run


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def write_entry(models: Path, name: str, **keys: Any) -> Path:
    """``models/<name>.toml`` with ``keys`` over a CiteULike MF BPR entry."""
    values = {"dataset": "citeulike", "tower": "mf", "loss": "bpr", "name": name, **keys}
    models.mkdir(parents=True, exist_ok=True)
    path = models / f"{name}.toml"
    path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in values.items()))
    return path


def finished_run(run_dir: Path, config: dict[str, Any], wall: float = 60.0) -> Path:
    """A finished run directory of ``config`` (its metrics made up, one per key)."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    metrics = {
        "config": config,
        "epochs_run": config["epochs"],
        "best_epoch": config["epochs"],
        "test": {"ndcg@20": 0.2, "recall@20": 0.3, "ndcg@10": 0.1, "recall@10": 0.15},
        "valid": {},
        "erank": {"item": 10.0, "user": 11.0},
        "seconds_per_epoch": 1.5,
        "wall_seconds": wall,
        "peak_rss_mb": 900.0,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def unfinished_run(run_dir: Path, config: dict[str, Any]) -> Path:
    """The staging folder a run of ``config`` killed before its first epoch leaves."""
    from tfdirectspec.training.config import TrainConfig

    run = Run.create(run_dir)
    run.write_config(TrainConfig().updated(config, "test"))
    return run.folder
