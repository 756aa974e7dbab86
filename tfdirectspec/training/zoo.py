"""The model zoo: one TOML config per entry in ``models/`` (installed as ``tfdirectspec/zoo``).

Besides finding entries, it says when two runs are the same measurement:
:func:`config_hash` digests only the keys of a config that change a run's result
(:func:`result_keys`), and :func:`resolve_entry` gives the config an entry trains with,
so ``config_hash(resolve_entry(path).to_dict())`` is the hash a finished run of that entry
carries (``pipelines/release/measure_zoo.py`` re-runs an entry when they differ).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfdirectspec.training.config import DATA_KEYS, read_config_file

if TYPE_CHECKING:
    from tfdirectspec.training.config import TrainConfig

#: Training keys that change a run's result whatever its tower and loss (besides
#: :data:`~tfdirectspec.training.config.DATA_KEYS` and the model's own hyper-parameters).
#: ``eval_every``, ``ks``, ``eval_users`` and ``track_test`` change what is recorded (and,
#: with ``patience``, when a run stops); ``item_norm_exponent`` and ``calibrate_item_norms``
#: change the scores that are ranked.
RUN_KEYS = (
    "tower",
    "loss",
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "lr_decay",
    "sampler",
    "eval_every",
    "ks",
    "eval_users",
    "item_norm_exponent",
    "calibrate_item_norms",
    "patience",
    "time_budget",
    "track_test",
    "warm_start",
)
#: Keys that never change a run's result: its display name and how it executes.
EXECUTION_KEYS = ("name", "num_threads", "eval_batch_size", "steps_per_execution")


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


def list_entries(directories: Iterable[Path] | None = None) -> list[str]:
    """Names of all zoo entries (of ``directories``; default: :func:`zoo_dirs`).

    Only the folder's own ``*.toml`` files are entries: ``defaults/`` (default recipes)
    and ``search/`` (search spaces) are not.
    """
    folders = zoo_dirs() if directories is None else [Path(d) for d in directories]
    return sorted({p.stem for d in folders for p in d.glob("*.toml")})


def resolve_entry(path: str | Path) -> TrainConfig:
    """The config ``tfdirectspec train --config PATH`` trains with (without other flags).

    The same resolution as the command (:func:`~tfdirectspec.training.recipes.resolve_config`
    on the file's keys, and the command's default ``name``), except that the data is read
    only when the config has no zoo entry to start from (its default recipe depends on the
    data): resolving a Gowalla entry does not read Gowalla.

    Raises:
        InputError: an unreadable file or a bad key, naming the file.
    """
    from tfdirectspec.training.config import TrainConfig, load_data
    from tfdirectspec.training.recipes import resolve_config

    values = read_config_file(path)
    key = TrainConfig().updated(values, str(path)).validate()
    has_entry = key.data_dir is None and zoo_defaults(key.dataset, key.tower, key.loss)
    data = None if has_entry else load_data(key)
    config = resolve_config(key, data, [(values, str(path))])
    if not config.name:
        config.name = entry_name(
            config.dataset or Path(config.data_dir).name, config.tower, config.loss
        )
    return config.check_complete()


def result_keys(config: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``config`` that change the run's result, with their values.

    Those are the data and split keys, :data:`RUN_KEYS`, and the hyper-parameters of the
    config's tower and loss (:func:`~tfdirectspec.training.hyperparameters.model_keys`):
    a key another loss or tower takes (``shrink`` for BPR, ``layers`` for MF) and the
    :data:`EXECUTION_KEYS` are left out.
    Keys missing from ``config`` take :class:`~tfdirectspec.training.TrainConfig`'s
    defaults (a run recorded before a key existed ran as its default does), unknown keys
    are ignored, and values are typed as the config types them (``lr = 1`` is ``1.0``).
    """
    import dataclasses

    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.hyperparameters import model_keys

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    full = TrainConfig().updated({k: v for k, v in config.items() if k in known}, "config")
    values = full.to_dict()
    names = [*DATA_KEYS, *RUN_KEYS, *model_keys(full.tower, full.loss)]
    return {name: values[name] for name in dict.fromkeys(names)}


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of :func:`result_keys` of ``config``.

    Two configs have the same hash exactly when they train the same run, up to the keys
    that cannot change its result; a result file records the hash of its run's config,
    and a zoo entry is measured when a result carries the hash of
    ``resolve_entry(entry).to_dict()``. Canonical JSON: sorted keys, no spaces.

    Example:
        >>> from tfdirectspec.training.config import TrainConfig
        >>> config = TrainConfig(loss="bpr").to_dict()
        >>> config_hash({**config, "shrink": 0.5, "name": "x"}) == config_hash(config)
        True
        >>> config_hash({**config, "reg": 0.5}) == config_hash(config)
        False
    """
    text = json.dumps(result_keys(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
