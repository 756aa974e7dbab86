"""What a tune searches: its settings, their file ``tune.json``, and the config of a trial.

:func:`new_settings` makes the settings of a new tune, :func:`read_settings` reads those
of a tune to ``--resume``; :func:`trial_config` is a loss's base config with a trial's
values. The driver is :mod:`tfdirectspec.tuning.tuner`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tfdirectspec.parameters import ParameterError
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.tuning.space import SearchSpace

SETTINGS_FILE = "tune.json"


@dataclasses.dataclass
class TuneSettings:
    """What a tune searches; saved as ``tune.json`` so ``--resume`` continues the same search.

    Attributes:
        losses: the losses compared, in scheduling order.
        base: loss → the TrainConfig (as a dict) a trial starts from: its zoo recipe
            plus the command's flags (data, tower, epochs, valid fraction, seed).
        spaces: loss → its search space (as the TOML tables).
        max_trials: trials in total, over all losses.
        seed: the oracles' seed (trials train with ``base[...]["seed"]``).
        patience: evaluations without improvement before a trial stops (0 = off).
        min_peers: finished same-loss trials the median rule needs (0 = off).
    """

    losses: list[str]
    base: dict[str, dict[str, Any]]
    spaces: dict[str, dict[str, Any]]
    max_trials: int = 10
    seed: int = 0
    patience: int = 5
    min_peers: int = 2

    def space(self, loss: str) -> SearchSpace:
        """The search space of ``loss`` (parsed from the saved tables)."""
        from tfdirectspec.tuning.space import Param

        params = {k: Param(**_param_fields(v)) for k, v in self.spaces[loss].items()}
        return SearchSpace(loss, params, f"{SETTINGS_FILE}:{loss}")

    def config(self, loss: str) -> TrainConfig:
        """The base TrainConfig of ``loss``."""
        return TrainConfig().updated(self.base[loss], SETTINGS_FILE)

    @property
    def monitor(self) -> str:
        """The validation metric maximised, e.g. ``val_ndcg@20``."""
        return f"val_ndcg@{max(self.config(self.losses[0]).ks)}"


def _param_fields(table: dict[str, Any]) -> dict[str, Any]:
    if "choice" in table:
        return {"kind": "choice", "values": tuple(table["choice"])}
    kind = next(k for k in table if k != "step")
    low, high = table[kind]
    return {"kind": kind, "low": low, "high": high, "step": table.get("step")}


def new_settings(
    spaces: dict[str, SearchSpace],
    base: dict[str, TrainConfig],
    max_trials: int = 10,
    seed: int = 0,
    patience: int = 5,
    min_peers: int = 2,
) -> TuneSettings:
    """Settings of a new tune over ``spaces`` (loss → space), starting from ``base`` configs."""
    losses = list(spaces)
    return TuneSettings(
        losses=losses,
        base={loss: base[loss].to_dict() for loss in losses},
        spaces={loss: spaces[loss].to_dict() for loss in losses},
        max_trials=max_trials,
        seed=seed,
        patience=patience,
        min_peers=min_peers,
    )


def read_settings(output: str | Path) -> TuneSettings:
    """The settings of the tune in ``output`` (for ``--resume``).

    Raises:
        InputError: no tune there, or an unreadable settings file.
    """
    file = Path(output) / SETTINGS_FILE
    if not file.is_file():
        raise ParameterError("resume", f"no tune in {output} (no {SETTINGS_FILE})")
    try:
        return TuneSettings(**json.loads(file.read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise ParameterError("resume", f"{file}: unreadable ({error})") from None


def trial_config(base: TrainConfig, values: dict[str, Any], trial_id: str) -> TrainConfig:
    """The config of a trial: ``base`` with the trial's values; no test curves, no own budget."""
    config = base.updated(values, f"trial {trial_id}")
    config = dataclasses.replace(config, track_test=False, time_budget=0.0, name=trial_id)
    return config.check_complete()
