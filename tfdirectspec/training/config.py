"""The training configuration: one flat, declarative record per run.

The same keys appear as zoo config files (``models/*.toml``), as
``--config FILE`` contents and as command-line flags (``batch_size`` ↔
``--batch-size``). Precedence: built-in defaults < zoo entry for
(dataset, tower, loss) < ``--config`` file < flags.

A config remembers which keys its maker gave (:meth:`TrainConfig.given_values`): the
others are filled by the zoo entry or the loss's default recipe when the run starts
(:func:`~tfdirectspec.training.recipes.resolve_config`, the one resolver of the command
line and of :func:`~tfdirectspec.training.trainer.train`).
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
from tfdirectspec.training.hyperparameters import (
    DEFAULT_LOSS,
    LOSS_CLASSES,
    TOWER_CLASSES,
    all_loss_parameters,
    all_tower_parameters,
    shared_default,
)

if TYPE_CHECKING:
    from tfdirectspec.data import InteractionData

TOWERS = tuple(TOWER_CLASSES)
#: Every loss: the registry's classes and EASE^R, the closed form (no loss class).
LOSSES = (*LOSS_CLASSES, "ease")
#: The classic baselines among LOSSES: not embedding losses trained by ``model.fit`` but
#: iALS (alternating least squares; ``dim`` factors, ``reg`` λ, ``alpha`` the confidence
#: weight, ``epochs`` the iterations) and EASE^R (closed form; ``reg`` is its λ, one fit).
#: See :mod:`tfdirectspec.training.baseline_trainer`.
BASELINES = ("ials", "ease")
OPTIMIZERS = ("sgd", "adam", "lazy-adam")
SAMPLERS = ("user", "pair")
#: How the test and validation splits are carved (see ``InteractionData.with_test_split``).
SPLITS = ("random", "time")
#: Types of raw ids (``auto``: integers if every id is one, else strings).
ID_TYPES = ("auto", "int", "str")
#: Keys that say where the data comes from and how it is read and split.
DATA_KEYS = (
    "dataset",
    "data_dir",
    "columns",
    "id_type",
    "header",
    "split",
    "cutoff",
    "test_fraction",
    "valid_fraction",
    "no_test",
    "seed",
)
#: Keys that must be positive integers.
POSITIVE_INTS = (
    "epochs",
    "batch_size",
    "dim",
    "eval_every",
    "eval_batch_size",
    "steps_per_execution",
)


def _with_hyperparameter_fields(cls: type) -> type:
    """Adds a field for each tower and loss hyper-parameter (``dim``, ``layers``, ``alpha``…).

    Its key, type and default come from the classes' ``__init__`` signatures
    (:mod:`~tfdirectspec.training.hyperparameters`), so an argument added to a loss or a tower
    is a config key, a TOML key, a flag and a search-space name without another edit. A key
    several losses share (``reg``, ``alpha``, ``shrink``…) takes the default loss's default;
    zoo entries and default recipes set the values their loss needs.
    """
    annotations = cls.__dict__.get("__annotations__", {})
    for key, declared in {**all_tower_parameters(), **all_loss_parameters()}.items():
        if key not in annotations:
            parameter = shared_default(declared)
            annotations[key] = parameter.annotation
            setattr(cls, key, parameter.default)
    return cls


@dataclasses.dataclass
@_with_hyperparameter_fields
class TrainConfig:
    """Every hyper-parameter of a run. Field names are the flags' names with ``_``.

    Besides the fields below, one field per tower and loss hyper-parameter, declared by its
    class (see :func:`_with_hyperparameter_fields`).
    """

    dataset: str | None = "citeulike"
    data_dir: str | None = None
    #: ``"USER,ITEM[,TIME]"``: header names or 0-based indices (None: the first two).
    columns: str | None = None
    id_type: str = "auto"
    #: Whether CSV/TSV files start with a header (None: detected).
    header: bool | None = None
    split: str = "random"
    #: With ``split="time"``: one global cut (ISO 8601 or epoch seconds) for the test split.
    cutoff: str | None = None
    #: Train and report without a test split (otherwise a run without one is an error).
    no_test: bool = False
    tower: str = "mf"
    loss: str = DEFAULT_LOSS
    epochs: int = 300
    batch_size: int = 256
    optimizer: str = "sgd"
    lr: float = 180.0
    lr_decay: float = 0.9995
    sampler: str = "user"
    seed: int = 0
    valid_fraction: float = 0.0
    test_fraction: float = 0.0
    eval_every: int = 10
    ks: tuple[int, ...] = (10, 20)
    eval_batch_size: int = 1024
    #: Rank a seeded sample of this many users at each evaluation (0: all, exact).
    eval_users: int = 0
    #: Scoring's weight γ of the item rows' norms: ``u · î · ‖i‖^γ`` (1: the raw dot product).
    item_norm_exponent: float = 1.0
    #: Choose ``item_norm_exponent`` on the validation split after training
    #: (:mod:`~tfdirectspec.training.calibration`); without a validation split it stays.
    calibrate_item_norms: bool = False
    steps_per_execution: int = 32
    track_test: bool = False
    time_budget: float = 0.0
    patience: int = 0
    #: iALS: implicit's threads (0: all cores). Does not change the result.
    num_threads: int = 1
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
        if not isinstance(self.num_threads, int) or isinstance(self.num_threads, bool):
            raise ParameterError("num_threads", f"must be an integer, got {self.num_threads!r}")
        check_non_negative("num_threads", self.num_threads)
        if self.loss in BASELINES and self.tower != "mf":
            raise ParameterError(
                "tower", f"{self.tower} does not apply to loss {self.loss} (an MF model); use mf"
            )

        if not isinstance(self.eval_users, int) or isinstance(self.eval_users, bool):
            raise ParameterError("eval_users", f"must be an integer, got {self.eval_users!r}")
        check_non_negative("eval_users", self.eval_users)
        for key in ("alpha", "shrink", "reg", "gamma", "time_budget", "item_norm_exponent"):
            check_non_negative(key, getattr(self, key))

        check_adaptive_tau(self.tau0, self.tau1)
        check_group_size(self.group_size, self.batch_size, self.tau0 is not None, self.loss)
        if not 0 < self.lr_decay <= 1:
            raise ParameterError("lr_decay", f"must be in (0, 1], got {self.lr_decay}")
        check_fraction("test_fraction", self.test_fraction)
        check_fraction("valid_fraction", self.valid_fraction)
        check_layers(self.layers, "layers")
        check_ks(self.ks)
        check_choice("split", self.split, SPLITS)
        check_choice("id_type", self.id_type, ID_TYPES)
        if self.cutoff is not None:
            if self.split != "time":
                raise ParameterError("cutoff", "needs --split time", related=("split",))
            from tfdirectspec.data.log_schema import ColumnChoice, parse_time

            parse_time(self.cutoff)
            if ColumnChoice.parse(self.columns).time is None and self.data_dir is not None:
                raise ParameterError("cutoff", "needs a time column: --columns USER,ITEM,TIME")
            if self.test_fraction:
                raise ParameterError(
                    "cutoff", "and --test-fraction both make the test split: give one",
                    related=("test_fraction",),
                )  # fmt: skip
        if self.columns is not None:
            from tfdirectspec.data.log_schema import ColumnChoice

            ColumnChoice.parse(self.columns)
        return self

    def given_values(self) -> dict[str, Any]:
        """The keys its maker set (constructor arguments, :meth:`updated` values).

        Example:
            >>> TrainConfig(loss="bpr").updated({"epochs": 3}, "flags").given_values()
            {'epochs': 3, 'loss': 'bpr'}
        """
        given = getattr(self, "_given", frozenset(f.name for f in dataclasses.fields(self)))
        return {name: getattr(self, name) for name in sorted(given)}

    @property
    def resolved(self) -> bool:
        """Whether the zoo entry or default recipe has been applied (see the module doc)."""
        return getattr(self, "_resolved", False)

    def mark_resolved(self) -> TrainConfig:
        """Marks the config as resolved; returns it."""
        object.__setattr__(self, "_resolved", True)
        return self

    def check_complete(self) -> TrainConfig:
        """:meth:`validate`, plus the rules of a config about to train (after its recipe).

        iALS and EASE^R need λ = ``reg`` > 0 (``XᵀX + λI`` and the least-squares solves
        must be invertible); a partial config (before the recipe fills ``reg``) may have 0.
        """
        self.validate()
        if self.loss in BASELINES:
            check_positive("reg", self.reg)
        return self

    def updated(self, values: dict[str, Any], source: str) -> TrainConfig:
        """A copy with ``values`` applied; unknown keys are an error naming ``source``."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}")
        values = {key: _typed(key, value, source) for key, value in values.items()}
        config = dataclasses.replace(self, **values)
        object.__setattr__(config, "_given", frozenset(self.given_values()) | set(values))
        return config

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ks"] = list(self.ks)
        return out


_dataclass_init = TrainConfig.__init__


def _init_recording_given(self: TrainConfig, *args: Any, **kwargs: Any) -> None:
    """The dataclass ``__init__``, which also records the keys given (for the resolver)."""
    _dataclass_init(self, *args, **kwargs)
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    object.__setattr__(self, "_given", frozenset(names[: len(args)]) | frozenset(kwargs))


TrainConfig.__init__ = _init_recording_given  # type: ignore[method-assign]


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
    """The run's data, read as the config says and split by :func:`split_data`.

    NumPy and SciPy only: the command line reads and checks the data before TensorFlow loads.

    Raises:
        InputError: no data named, a bad file, or no test split (see :func:`split_data`).
    """
    from tfdirectspec.data import load_data_dir, load_dataset

    if config.data_dir is not None:
        data = load_data_dir(
            config.data_dir, id_type=config.id_type, columns=config.columns, header=config.header
        )
    elif config.dataset is not None:
        data = load_dataset(config.dataset)
    else:
        raise ParameterError(
            "dataset", "or data_dir is needed (or pass data= to train)", related=("data_dir",)
        )
    return split_data(data, config)


#: The files a data folder's test split may come from (``load_data_dir``).
_TEST_FILES = "test.tsv, test.csv, test.txt or test.parquet"


def split_data(data: InteractionData, config: TrainConfig) -> InteractionData:
    """``data`` with its test split (as given, or carved by ``test_fraction``/``cutoff``)
    and its validation split, both by ``config.split`` (``random`` or ``time``).

    Raises:
        InputError: no test split and ``no_test`` not set; a validation fraction on data
            that has a validation split already.

    Example:
        >>> from tfdirectspec.data import from_pairs
        >>> data = from_pairs([[0, i] for i in range(10)])
        >>> split_data(data, TrainConfig(test_fraction=0.2)).summary()["test"]
        2
        >>> split_data(data, TrainConfig())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfdirectspec.errors.InputError: the data: no test split: add a test file ...
    """
    from tfdirectspec.data.log_schema import parse_time

    cutoff = parse_time(config.cutoff) if config.cutoff is not None else None
    data = data.with_test_split(config.test_fraction, config.seed, config.split, cutoff)
    if data.test.nnz == 0 and not config.no_test:
        raise InputError(
            f"{data.name or 'the data'}: no test split: add a test file ({_TEST_FILES}) "
            "to the data folder, or carve one with --test-fraction F (or train without "
            "one with --no-test)"
        )
    if config.valid_fraction and data.valid.nnz:
        raise ParameterError(
            "valid_fraction", f"cannot apply: {data.name} already has a validation split"
        )
    return data.with_validation(config.valid_fraction, config.seed, config.split)


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
