"""The model zoo: one TOML config per entry in ``models/`` (installed as ``tfdirectspec/zoo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfdirectspec.training.config import read_config_file


def zoo_dirs() -> list[Path]:
    """Folders that hold zoo configs: the installed copy, then a source checkout's ``models/``."""
    package = Path(__file__).resolve().parents[1]
    return [d for d in (package / "zoo", package.parent / "models") if d.is_dir()]


def loss_slug(loss: str) -> str:
    """A loss name as it appears in file names: ``directspec+`` -> ``directspec-plus``."""
    return loss.replace("+", "-plus")


def entry_name(dataset: str, tower: str, loss: str) -> str:
    """File stem of the default zoo entry, e.g. ``citeulike-mf-directspec-plus``."""
    return f"{dataset}-{tower}-{loss_slug(loss)}"


def find_entry(name: str) -> Path | None:
    """Path of the zoo config ``name`` (file stem), or None."""
    for directory in zoo_dirs():
        path = directory / f"{name}.toml"
        if path.is_file():
            return path
    return None


def zoo_defaults(dataset: str | None, tower: str, loss: str) -> dict[str, Any]:
    """The zoo entry of (dataset, tower, loss) as a dict of config keys; ``{}`` when none.

    Only the dataset's own entry counts: data without one gets its loss's default recipe
    (:mod:`tfdirectspec.training.recipes`), which depends on the data, not on a dataset name.
    """
    if dataset is None:
        return {}
    path = find_entry(entry_name(dataset, tower, loss))
    return read_config_file(path) if path is not None else {}


def list_entries() -> list[str]:
    """Names of all zoo entries."""
    return sorted({p.stem for d in zoo_dirs() for p in d.glob("*.toml")})
