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
from typing import TYPE_CHECKING, Any

from tfdirectspec.errors import InputError
from tfdirectspec.parameters import (
    ParameterError,
    check_adaptive_tau,
    check_choice,
    check_combination,
    check_fraction,
    check_group_size,
    check_ks,
    check_layers,
    check_non_negative,
    check_positive,
)

if TYPE_CHECKING:
    from tfdirectspec.data import InteractionData

TOWERS = ("mf", "lightgcn")
LOSSES = ("bpr", "positive-only", "directspec", "directspec+", "directau", "ssm")
OPTIMIZERS = ("sgd", "adam", "lazy-adam")
SAMPLERS = ("user", "pair")
#: Keys that must be positive integers.
POSITIVE_INTS = (
    "epochs",
    "batch_size",
    "dim",
    "eval_every",
    "eval_batch_size",
    "steps_per_execution",
)


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
    #: Rank a seeded sample of this many users at each evaluation (0: all, exact).
    eval_users: int = 0
    steps_per_execution: int = 32
    track_test: bool = False
    time_budget: float = 0.0
    group_size: int = 0
    patience: int = 0
    #: A finished run whose user and item rows (matched by raw id) start this run.
    warm_start: str | None = None
    name: str = ""

    def validate(self) -> TrainConfig:
        """Raises :class:`~tfdirectspec.parameters.ParameterError` naming the first bad key."""
        check_choice("tower", self.tower, TOWERS)
        check_choice("loss", self.loss, LOSSES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("sampler", self.sampler, SAMPLERS)
        check_combination(self.combination)
        for key in POSITIVE_INTS:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ParameterError(key, f"must be an integer, got {value!r}")
            check_positive(key, value)
        for key in ("lr", "tau", "temperature"):
            check_positive(key, getattr(self, key))
        check_non_negative("patience", self.patience)
        if not isinstance(self.eval_users, int) or isinstance(self.eval_users, bool):
            raise ParameterError("eval_users", f"must be an integer, got {self.eval_users!r}")
        check_non_negative("eval_users", self.eval_users)
        for key in ("alpha", "shrink", "reg", "gamma", "time_budget"):
            check_non_negative(key, getattr(self, key))
        check_adaptive_tau(self.tau0, self.tau1)
        check_group_size(self.group_size, self.batch_size, self.tau0 is not None, self.loss)
        if not 0 < self.lr_decay <= 1:
            raise ParameterError("lr_decay", f"must be in (0, 1], got {self.lr_decay}")
        check_fraction("test_fraction", self.test_fraction)
        check_fraction("valid_fraction", self.valid_fraction)
        check_layers(self.layers, "layers")
        check_ks(self.ks)
        if self.dataset is None and self.data_dir is None:
            raise ParameterError("dataset", "or data_dir is needed", related=("data_dir",))
        return self

    def updated(self, values: dict[str, Any], source: str) -> TrainConfig:
        """A copy with ``values`` applied; unknown keys are an error naming ``source``."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}")
        values = {key: _typed(key, value, source) for key, value in values.items()}
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ks"] = list(self.ks)
        return out


#: The type of each key's values (None is allowed where the default is None).
_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _typed(key: str, value: Any, source: str) -> Any:
    """``value`` as the type of ``key`` (ints accepted for floats); a wrong type is an error."""
    field = TrainConfig.__dataclass_fields__[key]
    kind = str(field.type)
    if value is None and "None" in kind:
        return None
    if key == "ks":
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list | tuple) or not all(
            isinstance(k, int) and not isinstance(k, bool) for k in value
        ):
            raise InputError(f"{source}: ks must be a list of integers, got {value!r}")
        return tuple(value)
    name = kind.split(" |")[0]
    wanted = _TYPES[name]
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
        raise InputError(f"{source}: {key} must be of type {name}, got {value!r}")
    return value


def load_data(config: TrainConfig) -> InteractionData:
    """The run's data: the test split as given (or carved with ``test_fraction``), then validation.

    NumPy and SciPy only: the command line reads and checks the data before TensorFlow loads.
    """
    from tfdirectspec.data import load_data_dir, load_dataset

    if config.data_dir is not None:
        data = load_data_dir(config.data_dir)
    else:
        data = load_dataset(config.dataset)
    data = data.with_test_split(config.test_fraction, config.seed)
    if config.valid_fraction and data.valid.nnz:
        raise ParameterError(
            "valid_fraction", f"cannot apply: {data.name} already has a validation split"
        )
    return data.with_validation(config.valid_fraction, config.seed)


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
