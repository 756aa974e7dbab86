"""The training configuration: one flat, declarative record per run.

The same keys appear as zoo config files (``models/*.toml``), as
``--config FILE`` contents and as command-line flags (``batch_size`` ↔
``--batch-size``). Precedence: built-in defaults < zoo entry for
(dataset, tower, loss) < ``--config`` file < flags.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from tfdirectspec.errors import InputError

TOWERS = ("mf", "lightgcn")
LOSSES = ("bpr", "positive-only", "directspec", "directspec+", "directau", "ssm")
OPTIMIZERS = ("sgd", "adam")
SAMPLERS = ("user", "pair")


@dataclasses.dataclass
class TrainConfig:
    """Every hyper-parameter of a run. Field names are the flags' names with ``_``."""

    dataset: str | None = "citeulike"
    data_dir: str | None = None
    tower: str = "mf"
    loss: str = "directspec+"
    epochs: int = 300
    batch_size: int = 256
    dim: int = 64
    layers: int = 3
    combination: str = "mean"
    optimizer: str = "sgd"
    lr: float = 180.0
    lr_decay: float = 0.9995
    alpha: float = 1.0
    tau: float = 3.0
    tau0: float | None = None
    tau1: float | None = None
    shrink: float = 0.03
    reg: float = 0.0
    gamma: float = 1.0
    temperature: float = 0.1
    sampler: str = "user"
    seed: int = 0
    valid_fraction: float = 0.0
    test_fraction: float = 0.0
    eval_every: int = 10
    ks: tuple[int, ...] = (10, 20)
    eval_batch_size: int = 1024
    steps_per_execution: int = 32
    track_test: bool = False
    time_budget: float = 0.0
    group_size: int = 0
    name: str = ""

    def validate(self) -> TrainConfig:
        """Raises :class:`InputError` naming the flag of the first bad value."""
        _choice("tower", self.tower, TOWERS)
        _choice("loss", self.loss, LOSSES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("sampler", self.sampler, SAMPLERS)
        _choice("combination", self.combination, ("mean", "sum"))
        for key in (
            "epochs",
            "batch_size",
            "dim",
            "eval_every",
            "eval_batch_size",
            "steps_per_execution",
        ):
            if getattr(self, key) <= 0:
                raise InputError(f"{_flag(key)} must be positive, got {getattr(self, key)}")
        for key in ("lr", "tau", "temperature"):
            if not getattr(self, key) > 0:
                raise InputError(f"{_flag(key)} must be positive, got {getattr(self, key)}")
        for key in ("alpha", "shrink", "reg", "gamma"):
            if getattr(self, key) < 0:
                raise InputError(f"{_flag(key)} must be >= 0, got {getattr(self, key)}")
        if self.time_budget < 0:
            raise InputError(f"--time-budget must be >= 0 minutes, got {self.time_budget}")
        if self.group_size < 0:
            raise InputError(f"--group-size must be >= 0, got {self.group_size}")
        if self.group_size and self.batch_size % self.group_size:
            raise InputError(
                f"--group-size {self.group_size} must divide --batch-size {self.batch_size}"
            )
        if self.group_size and self.loss != "directspec+":
            raise InputError(f"--group-size applies to --loss directspec+, not {self.loss}")
        if self.group_size and self.tau0 is not None:
            raise InputError("--group-size cannot be combined with --tau0/--tau1")
        if not 0 < self.lr_decay <= 1:
            raise InputError(f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        if not 0 <= self.test_fraction < 1:
            raise InputError(f"--test-fraction must be in [0, 1), got {self.test_fraction}")
        if not 0 <= self.valid_fraction < 1:
            raise InputError(f"--valid-fraction must be in [0, 1), got {self.valid_fraction}")
        if not 0 <= self.layers <= 10:
            raise InputError(f"--layers must be between 0 and 10, got {self.layers}")
        if (self.tau0 is None) != (self.tau1 is None):
            raise InputError("--tau0 and --tau1 must be given together")
        if self.tau0 is not None and not 0 < self.tau0 <= self.tau1:
            raise InputError(f"--tau0/--tau1 need 0 < tau0 <= tau1, got {self.tau0}/{self.tau1}")
        if not self.ks or min(self.ks) <= 0:
            raise InputError(f"--ks must be positive integers, got {list(self.ks)}")
        if self.dataset is None and self.data_dir is None:
            raise InputError("give --dataset NAME or --data-dir DIR")
        return self

    def updated(self, values: dict[str, Any], source: str) -> TrainConfig:
        """A copy with ``values`` applied; unknown keys are an error naming ``source``."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}")
        values = dict(values)
        if "ks" in values:
            values["ks"] = tuple(int(k) for k in values["ks"])
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ks"] = list(self.ks)
        return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Reads a TOML config (flat keys of :class:`TrainConfig`)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: {e}") from None


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _choice(key: str, value: str, known: tuple[str, ...]) -> None:
    if value not in known:
        raise InputError(f"{_flag(key)}: unknown {key} {value!r} (known: {', '.join(known)})")
