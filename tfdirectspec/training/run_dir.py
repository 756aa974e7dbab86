"""Run directories: what ``tfdirectspec train`` writes, written atomically.

A run directory holds ``model.keras`` (the trainable model), ``metrics.json``,
the raw-id maps and ``logs/`` (TensorBoard). It is assembled in a hidden
folder beside the target and renamed into place only when complete, so an
interrupted or failed run leaves nothing half-written at ``--output``.
"""

from __future__ import annotations

import json
import os
import shutil
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


class RunWriter:
    """Assembles a run directory in ``<parent>/.<name>.partial`` and renames it when done.

    The staging folder exists for the whole run, so TensorBoard logs and
    checkpoints written during training land in it (see :attr:`logdir`), and
    only a complete run ever appears at ``path``.

    Example:
        >>> writer = RunWriter("runs/demo", overwrite=False)
        >>> result = train(config, callbacks=[keras.callbacks.TensorBoard(writer.logdir)])
        >>> writer.commit(result.model, result.metrics, result.data)
    """

    def __init__(self, path: str | Path, overwrite: bool = False, resume: bool = False) -> None:
        self.path = check_output(path, overwrite)
        self.overwrite = overwrite
        self.staging = self.path.parent / f".{self.path.name}.partial"
        if self.staging.exists() and not resume:
            shutil.rmtree(self.staging)  # left by a killed run that is not resumed
        self.staging.mkdir(parents=True, exist_ok=True)

    @property
    def logdir(self) -> Path:
        """TensorBoard log folder inside the run."""
        return self.staging / "logs"

    @property
    def checkpoint_dir(self) -> Path:
        """Checkpoint folder inside the run (for resuming)."""
        return self.staging / "checkpoints"

    def commit(self, model: keras.Model, metrics: dict[str, Any], data) -> Path:
        """Writes model, metrics and id maps, then moves the run into place."""
        model.save(self.staging / MODEL_FILE)
        data.save_id_maps(self.staging)
        write_json(self.staging / METRICS_FILE, metrics)
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.staging, self.path)
        return self.path

    def abort(self) -> None:
        """Removes the staging folder."""
        shutil.rmtree(self.staging, ignore_errors=True)


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
