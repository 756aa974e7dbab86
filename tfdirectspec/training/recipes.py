"""Default recipes: a run's hyper-parameters on data without a zoo entry, derived from the data.

A zoo entry (``models/<dataset>-<tower>-<loss>.toml``) is a recipe tuned for one dataset
(the authors' CiteULike and Gowalla recipes). Any other data (``--data-dir``, or a dataset
without an entry for that tower and loss) gets its loss's *default recipe*,
``models/defaults/<loss>.toml``, which names no dataset. It has two tables:

- ``[train]``: fixed keys of :class:`~tfdirectspec.training.TrainConfig` (optimiser,
  learning rate, batch size, loss weights);
- ``[schedule]`` (embedding losses; the baselines iALS and EASE^R have none and give
  ``epochs`` = iterations in ``[train]``): how long to train, in *steps*, turned into
  epochs for this data::

      steps_per_epoch = ⌊train pairs / batch_size⌋
      epochs          = clip(⌈steps / steps_per_epoch⌉, min_epochs, max_epochs)
      eval_every      = ⌈epochs / evaluations⌉
      patience        = patience if the data has a validation split else 0

  so a small dataset trains for as many steps as a large one instead of as many epochs,
  and with a validation split the run stops once ``patience`` evaluations in a row bring
  no new best validation NDCG (the reported model is the best epoch).

Keys the user gives (``--config`` file, flags) win over the recipe, and a schedule key
given explicitly (``epochs``, ``eval_every``, ``patience``) is not derived.

Large catalogs: a recipe's ``adam`` becomes ``lazy-adam``
(:class:`~tfdirectspec.training.lazy_adam.LazyAdam`) when the data has more than
``LAZY_ADAM_ROWS`` users + items and the user did not choose the optimiser. Keras'
Adam updates every table row at every step, so its step grows with the catalog and an
epoch with pairs × rows. LazyAdam follows Adam's trajectory while its step does not grow
(one update of a 2M-row table, d = 64: 411 ms against 1.5 ms; the same test NDCG@20 after
two epochs on a 1M-pair log; ``pipelines/benchmarks/bench_lazy_adam.py``). Below the threshold,
where every recipe was designed and measured, nothing changes.

Example:
    >>> from tfdirectspec.data import from_pairs
    >>> data = from_pairs([[u, i] for u in range(100) for i in range(u % 7, u % 7 + 30)])
    >>> config = recipe_config(TrainConfig(dataset=None, data_dir="d", loss="bpr"), data)
    >>> config.optimizer, config.batch_size, config.epochs, config.patience
    ('adam', 2048, 1000, 0)
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from tfdirectspec.data.interactions import InteractionData
from tfdirectspec.errors import InputError
from tfdirectspec.training.config import DATA_KEYS, TrainConfig, read_config_file
from tfdirectspec.training.zoo import loss_slug, zoo_defaults, zoo_dirs

#: Keys derived by the schedule (a user's explicit value wins).
SCHEDULE_KEYS = ("epochs", "eval_every", "patience")
#: Users + items above which a recipe's ``adam`` is trained as ``lazy-adam``.
LAZY_ADAM_ROWS = 100_000


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The ``[schedule]`` table of a default recipe (see the module docstring)."""

    steps: int
    evaluations: int
    patience: int
    min_epochs: int = 1
    max_epochs: int = 1000

    def derive(self, batch_size: int, train_pairs: int, has_valid: bool) -> dict[str, int]:
        """``epochs``, ``eval_every`` and ``patience`` for this data.

        Example:
            >>> Schedule(steps=40000, evaluations=30, patience=5).derive(256, 166025, True)
            {'epochs': 62, 'eval_every': 3, 'patience': 5}
        """
        steps_per_epoch = max(1, train_pairs // batch_size)
        epochs = math.ceil(self.steps / steps_per_epoch)
        epochs = min(max(epochs, self.min_epochs), self.max_epochs)
        return {
            "epochs": epochs,
            "eval_every": max(1, math.ceil(epochs / self.evaluations)),
            "patience": self.patience if has_valid else 0,
        }


def recipe_path(loss: str) -> Path:
    """``defaults/<loss>.toml`` in the zoo folders."""
    for directory in zoo_dirs():
        path = directory / "defaults" / f"{loss_slug(loss)}.toml"
        if path.is_file():
            return path
    raise InputError(
        f"no default recipe for loss {loss!r} (looked for defaults/{loss_slug(loss)}.toml)"
    )


def read_recipe(loss: str) -> tuple[dict[str, Any], Schedule | None, Path]:
    """The ``[train]`` values, the :class:`Schedule` and the file of ``loss``'s default recipe.

    A recipe without a ``[schedule]`` table (the baselines iALS and EASE^R, whose budget is
    a number of iterations, not of steps) has None: its ``[train]`` table then sets
    ``epochs``, ``eval_every`` and ``patience`` itself.

    Raises:
        InputError: a missing table or key, or an unknown one, naming the file.
    """
    path = recipe_path(loss)
    values = read_config_file(path)
    unknown = sorted(set(values) - {"train", "schedule"})
    if unknown or not isinstance(values.get("train"), dict):
        raise InputError(f"{path}: needs a [train] and a [schedule] table (found {sorted(values)})")
    train = values["train"]
    TrainConfig().updated(train, f"{path} [train]")  # unknown keys and types fail here
    fields = {f.name for f in dataclasses.fields(Schedule)}
    if "schedule" not in values:  # iALS, EASE: iterations and evaluations in [train]
        return train, None, path
    schedule = values.get("schedule", {})
    bad = sorted(set(schedule) - fields)
    if bad:
        raise InputError(f"{path}: [schedule]: unknown key(s) {', '.join(bad)}")
    try:
        parsed = Schedule(**{k: int(v) for k, v in schedule.items()})
    except TypeError as error:  # a required key is missing
        raise InputError(f"{path}: [schedule]: {error}") from None
    return train, parsed, path


def recipe_config(
    key: TrainConfig,
    data: InteractionData,
    given: list[tuple[dict[str, Any], str]] = (),
) -> TrainConfig:
    """The config of a run on ``data`` from ``key.loss``'s default recipe and the user's values.

    Args:
        key: a config naming the data, tower and loss (the rest is ignored).
        data: the run's data, split as it will be trained (its train pairs set the epochs).
        given: the user's values in increasing precedence, each with its source for
            error messages (e.g. ``[(file_values, "my.toml"), (flags, "flags")]``).

    Returns:
        The validated config.
    """
    train, schedule, path = read_recipe(key.loss)
    names = ("tower", "loss", *DATA_KEYS)
    config = TrainConfig().updated({k: getattr(key, k) for k in names}, "key")
    config = config.updated(train, str(path))
    explicit: set[str] = set()
    for values, source in given:
        config = config.updated(values, source)
        explicit |= set(values)
    if schedule is None:
        derived = {} if data.num_valid > 0 or "patience" in explicit else {"patience": 0}
    else:
        derived = schedule.derive(config.batch_size, data.num_train, data.num_valid > 0)
    derived = {k: v for k, v in derived.items() if k not in explicit}
    if (
        "optimizer" not in explicit
        and config.optimizer == "adam"
        and data.num_users + data.num_items > LAZY_ADAM_ROWS
    ):
        derived["optimizer"] = "lazy-adam"
    return config.updated(derived, f"{path} [schedule]").check_complete()


def resolve_config(
    key: TrainConfig,
    data: InteractionData,
    given: list[tuple[dict[str, Any], str]] | None = None,
) -> TrainConfig:
    """A run's config: the zoo entry of (dataset, tower, loss) if there is one (and the data
    is not a ``data_dir`` folder), else the loss's default recipe for ``data``; then the
    user's ``given`` values on top.

    The one resolver: ``tfdirectspec train``/``tune`` call it on the flags and
    :func:`~tfdirectspec.training.trainer.train` on a config it is handed, so
    ``TrainConfig(loss="bpr")`` trains with BPR's recipe in Python as on the command line.

    Args:
        key: a config naming the data, tower and loss.
        data: the run's data, split (only read when there is no zoo entry).
        given: the user's values in increasing precedence, with their sources; default:
            the keys ``key`` was made with (:meth:`TrainConfig.given_values`).

    Returns:
        The validated config, marked :attr:`~TrainConfig.resolved`.

    Example:
        >>> from tfdirectspec.data import from_pairs
        >>> data = from_pairs([[u, i] for u in range(100) for i in range(u % 7, u % 7 + 30)])
        >>> config = resolve_config(TrainConfig(dataset=None, loss="bpr", epochs=3), data)
        >>> config.optimizer, config.epochs, config.resolved
        ('adam', 3, True)
    """
    if given is None:
        given = [(key.given_values(), "config")]
    # A data folder is the user's data whatever ``dataset`` says (it defaults to citeulike):
    # it gets its loss's default recipe, never a dataset's zoo entry.
    zoo = {} if key.data_dir is not None else zoo_defaults(key.dataset, key.tower, key.loss)
    if not zoo:
        return recipe_config(key, data, given).mark_resolved()
    config = TrainConfig().updated(zoo, "zoo")
    for values, source in given:
        config = config.updated(values, source)
    return config.check_complete().mark_resolved()


def resolve_for_data(config: TrainConfig, data: InteractionData) -> TrainConfig:
    """:func:`resolve_config` of a config handed to ``train`` with its (split) data.

    The data's zoo entry is looked up by ``config.dataset`` when the config was given a
    ``dataset`` or ``data_dir``; otherwise by the data's name when it is a registered
    dataset (``load_dataset("citeulike")``), else there is none and the loss's default
    recipe applies, as for ``tfdirectspec train --data-dir``.

    Example:
        >>> from tfdirectspec.data import from_pairs
        >>> data = from_pairs([[u, i] for u in range(100) for i in range(u % 7, u % 7 + 30)])
        >>> config = resolve_for_data(TrainConfig(loss="bpr"), data)
        >>> config.optimizer, config.lr == TrainConfig().lr
        ('adam', False)
    """
    from tfdirectspec.data import DATASETS

    given = config.given_values()
    if "dataset" not in given and "data_dir" not in given and config.data_dir is None:
        config = config.updated({"dataset": data.name if data.name in DATASETS else None}, "data")
    return resolve_config(config, data)
