"""Run directories: what ``tfdirectspec train`` writes, written atomically.

A run directory holds ``model.keras`` (the trainable model), ``metrics.json``
and the raw-id maps. It is assembled in a hidden temporary folder beside the
target and renamed into place only when complete, so an interrupted or failed
run leaves nothing half-written at ``--output``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import keras

from tfdirectspec.errors import InputError

MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"


def check_output(path: str | Path, overwrite: bool) -> Path:
    """Refuses an existing ``--output`` unless ``overwrite``; call before training."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"--output: {path} exists (use --overwrite to replace it)")
    if path.exists() and not path.is_dir():
        raise InputError(f"--output: {path} exists and is not a directory")
    return path


def write_run(
    path: str | Path, model: keras.Model, metrics: dict[str, Any], data, overwrite: bool = False
) -> Path:
    """Writes a complete run directory at ``path`` (atomic rename)."""
    path = check_output(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        model.save(staging / MODEL_FILE)
        data.save_id_maps(staging)
        write_json(staging / METRICS_FILE, metrics)
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def write_json(path: str | Path, value: Any) -> None:
    """Writes JSON via a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_metrics(path: str | Path) -> dict[str, Any]:
    """Reads a run directory's ``metrics.json``; a missing one is an InputError."""
    file = Path(path) / METRICS_FILE
    if not file.is_file():
        raise InputError(f"{path}: not a finished run (no {METRICS_FILE})")
    return json.loads(file.read_text())


def load_model(path: str | Path) -> keras.Model:
    """Loads a run directory's trained model."""
    file = Path(path) / MODEL_FILE
    if not file.is_file():
        raise InputError(f"{path}: not a finished run (no {MODEL_FILE})")
    return keras.saving.load_model(file, safe_mode=True)
