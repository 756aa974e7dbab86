"""The model zoo: one TOML config per entry in ``models/`` (installed as ``tfdirectspec/zoo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfdirectspec.training.config import read_config_file

#: Dataset whose entries serve as recipes for datasets without their own.
FALLBACK_DATASET = "citeulike"


def zoo_dirs() -> list[Path]:
    """Folders that hold zoo configs: the installed copy, then a source checkout's ``models/``."""
    package = Path(__file__).resolve().parents[1]
    return [d for d in (package / "zoo", package.parent / "models") if d.is_dir()]


def entry_name(dataset: str, tower: str, loss: str) -> str:
    """File stem of the default zoo entry, e.g. ``citeulike-mf-directspec-plus``."""
    return f"{dataset}-{tower}-{loss.replace('+', '-plus')}"


def find_entry(name: str) -> Path | None:
    """Path of the zoo config ``name`` (file stem), or None."""
    for directory in zoo_dirs():
        path = directory / f"{name}.toml"
        if path.is_file():
            return path
    return None


def zoo_defaults(dataset: str | None, tower: str, loss: str) -> dict[str, Any]:
    """The zoo's hyper-parameters for (dataset, tower, loss).

    A dataset without its own entry (e.g. ``--data-dir``) gets the recipe of
    the same tower and loss on CiteULike, then of MF with that loss, so that
    ``--loss bpr`` means BPR's recipe (Adam) and not DirectSpec+'s (SGD, lr 180).
    Returns ``{}`` when the zoo has nothing for the loss.
    """
    candidates = [(dataset, tower), (FALLBACK_DATASET, tower), (FALLBACK_DATASET, "mf")]
    for index, (name, tower_name) in enumerate(candidates):
        if name is None:
            continue
        path = find_entry(entry_name(name, tower_name, loss))
        if path is not None:
            values = read_config_file(path)
            if index > 0:
                for key in ("dataset", "data_dir", "name", "tower"):
                    values.pop(key, None)
            return values
    return {}


def list_entries() -> list[str]:
    """Names of all zoo entries."""
    return sorted({p.stem for d in zoo_dirs() for p in d.glob("*.toml")})
