"""Search spaces: one TOML file per loss, ``models/search/<loss>.toml``, parsed into KerasTuner.

Each key of a space file is a :class:`~tfdirectspec.training.config.TrainConfig`
field; each value is an inline table declaring one distribution:

.. code-block:: toml

    lr = { log_uniform = [30.0, 1000.0] }      # p(x) ∝ 1/x on [low, high]
    alpha = { uniform = [0.3, 1.5] }           # p(x) = 1/(high − low) on [low, high]
    dim = { int = [32, 128], step = 32 }       # uniform over {low, low+step, …, high}
    batch_size = { log_int = [256, 4096] }     # integers, log-uniform
    shrink = { choice = [0.0, 0.01, 0.03, 0.1] }
    optimizer = { choice = ["adam", "sgd"] }

The file's name is the loss (``+`` written ``-plus``: ``directspec-plus.toml`` is
``directspec+``). :func:`load_space` checks everything and raises
:class:`~tfdirectspec.errors.InputError` with one line naming the file and the key;
:func:`dump_space` writes the same TOML back, so ``load → dump → load`` is the
identity. :meth:`SearchSpace.hyperparameters` builds the KerasTuner
``HyperParameters`` (``Float``/``Int``/``Choice``), with the loss's zoo recipe as
the defaults where the recipe (the zoo entry, or the default recipe for other data) lies
in the space.

Example:
    >>> space = load_space(space_path("directspec+"))
    >>> sorted(space.params)
    ['alpha', 'dim', 'lr', 'lr_decay', 'optimizer', 'shrink', 'tau']
    >>> load_space_text(dump_space(space), "again.toml", "directspec+") == space
    True
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from tfdirectspec.errors import InputError
from tfdirectspec.parameters import ParameterError
from tfdirectspec.training.config import LOSSES, TrainConfig
from tfdirectspec.training.zoo import loss_slug

#: Distribution kinds a space file may declare.
KINDS = ("uniform", "log_uniform", "int", "log_int", "choice")

#: TrainConfig fields that are not hyper-parameters of the model: data, protocol, bookkeeping.
#: ``tau0``/``tau1`` must be given together, which one-key distributions cannot express.
NOT_TUNABLE = (
    "dataset",
    "data_dir",
    "tower",
    "loss",
    "name",
    "seed",
    "valid_fraction",
    "test_fraction",
    "eval_every",
    "ks",
    "eval_batch_size",
    "eval_users",
    "steps_per_execution",
    "track_test",
    "time_budget",
    "tau0",
    "tau1",
    "num_threads",
)

_FIELD_TYPES: dict[str, type] = {
    f.name: type(f.default) for f in dataclasses.fields(TrainConfig) if f.name not in NOT_TUNABLE
}
#: Keys a space file may use.
TUNABLE = tuple(sorted(_FIELD_TYPES))


@dataclasses.dataclass(frozen=True)
class Param:
    """One dimension of a search space.

    Attributes:
        kind: one of :data:`KINDS`.
        low, high: bounds (numeric kinds), both included.
        values: the options (``choice``).
        step: grid step (``int`` only; 1 when not given).
    """

    kind: str
    low: float | int | None = None
    high: float | int | None = None
    values: tuple = ()
    step: int | None = None

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a point of this dimension."""
        if self.kind == "choice":
            return value in self.values and type(value) is type(self.values[0])
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.kind in ("int", "log_int"):
            return float(value).is_integer() and (value - self.low) % (self.step or 1) == 0
        return True

    def to_toml_value(self) -> dict[str, Any]:
        """The inline table of this dimension (what :func:`dump_space` writes)."""
        if self.kind == "choice":
            out: dict[str, Any] = {"choice": list(self.values)}
        else:
            out = {self.kind: [self.low, self.high]}
        if self.step is not None:
            out["step"] = self.step
        return out


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The search space of one loss: TrainConfig key → :class:`Param`.

    Attributes:
        loss: the loss this space belongs to (e.g. ``directspec+``).
        params: the dimensions, in file order.
        source: the file it was read from (for messages; not part of equality).
    """

    loss: str
    params: dict[str, Param]
    source: str = dataclasses.field(default="", compare=False)

    def hyperparameters(self, defaults: dict[str, Any] | None = None):
        """The space as ``keras_tuner.HyperParameters``.

        Args:
            defaults: preferred default values (e.g. the loss's zoo recipe);
                a value outside its dimension is ignored (KerasTuner's own
                default is kept: the lower bound, or the first choice).

        Returns:
            A ``HyperParameters`` whose ``.values`` are the defaults.
        """
        import keras_tuner

        defaults = defaults or {}
        hps = keras_tuner.HyperParameters()
        for name, p in self.params.items():
            default = defaults.get(name)
            if _is_number(default) and _FIELD_TYPES[name] is float:
                default = float(default)
            if default is None or not p.contains(default):
                default = None
            if p.kind == "choice":
                hps.Choice(name, list(p.values), default=default)
            elif p.kind in ("uniform", "log_uniform"):
                sampling = "log" if p.kind == "log_uniform" else "linear"
                hps.Float(name, p.low, p.high, sampling=sampling, default=default)
            else:
                sampling = "log" if p.kind == "log_int" else "linear"
                hps.Int(name, p.low, p.high, step=p.step, sampling=sampling, default=default)
        return hps

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Key → inline table, as in the file."""
        return {name: p.to_toml_value() for name, p in self.params.items()}


def search_dirs() -> list[Path]:
    """Folders of space files: the installed ``tfdirectspec/zoo/search``, then ``models/search``."""
    from tfdirectspec.training.zoo import zoo_dirs

    return [d / "search" for d in zoo_dirs() if (d / "search").is_dir()]


def space_path(loss: str) -> Path:
    """The space file of ``loss``.

    Raises:
        InputError: no space is declared for ``loss``.
    """
    for directory in search_dirs():
        path = directory / f"{loss_slug(loss)}.toml"
        if path.is_file():
            return path
    known = ", ".join(losses_with_space()) or "none"
    raise ParameterError("loss", f"has no search space for {loss!r} (spaces: {known})")


def losses_with_space() -> list[str]:
    """Losses that have a space file, in :data:`LOSSES` order (what ``--loss auto`` tunes)."""
    stems = {p.stem for d in search_dirs() for p in d.glob("*.toml")}
    return [loss for loss in LOSSES if loss_slug(loss) in stems]


def load_space(path: str | Path, loss: str | None = None) -> SearchSpace:
    """Reads and checks a space file; the loss is taken from the file name unless given.

    Raises:
        InputError: ``<file>: <key>: <problem>`` (missing file, TOML syntax, unknown
            key, unknown distribution, bad bounds or values).
    """
    path = Path(path)
    if loss is None:
        loss = path.stem.replace("-plus", "+")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: no such search-space file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: unreadable ({error})") from None
    return load_space_text(text, str(path), loss)


def load_space_text(text: str, source: str, loss: str) -> SearchSpace:
    """Parses space TOML ``text``; ``source`` names it in error messages."""
    if loss not in LOSSES:
        raise InputError(f"{source}: unknown loss {loss!r} (known: {', '.join(LOSSES)})")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{source}: TOML syntax error: {error}") from None
    if not table:
        raise InputError(f"{source}: empty search space (declare at least one key)")
    params = {key: _parse_param(source, loss, key, value) for key, value in table.items()}
    return SearchSpace(loss, params, source)


def dump_space(space: SearchSpace) -> str:
    """The TOML text of ``space`` (one ``key = { kind = … }`` line per dimension)."""
    lines = [f"# Search space of --loss {space.loss} (tfdirectspec tune)."]
    for name, p in space.params.items():
        items = ", ".join(f"{k} = {_toml_value(v)}" for k, v in p.to_toml_value().items())
        lines.append(f"{name} = {{ {items} }}")
    return "\n".join(lines) + "\n"


def _parse_param(source: str, loss: str, key: str, value: Any) -> Param:
    where = f"{source}: {key}"
    if key not in _FIELD_TYPES:
        hint = "not tunable" if key in NOT_TUNABLE else "not a TrainConfig key"
        raise InputError(f"{where}: unknown key ({hint}; tunable: {', '.join(TUNABLE)})")
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected an inline table such as {{ uniform = [0.1, 1.0] }}")
    kinds = [k for k in value if k in KINDS]
    extra = sorted(set(value) - set(KINDS) - {"step"})
    if extra:
        raise InputError(f"{where}: unknown distribution {extra[0]!r} (known: {', '.join(KINDS)})")
    if len(kinds) != 1:
        raise InputError(f"{where}: declare exactly one distribution of {', '.join(KINDS)}")
    kind, field_type = kinds[0], _FIELD_TYPES[key]
    if "step" in value and kind != "int":
        raise InputError(f"{where}: step applies to int ranges only")
    if kind == "choice":
        param = _parse_choice(where, value["choice"], field_type)
    else:
        param = _parse_range(where, kind, value[kind], value.get("step"), field_type)
    _check_values(where, loss, key, param)
    return param


def _parse_choice(where: str, values: Any, field_type: type) -> Param:
    if not isinstance(values, list) or not values:
        raise InputError(f"{where}: choice needs a non-empty list")
    if field_type is float and all(_is_number(v) for v in values):
        values = [float(v) for v in values]
    wanted = {float: "numbers", int: "integers", str: "strings"}[field_type]
    if not all(type(v) is field_type for v in values):
        raise InputError(f"{where}: choice values must be {wanted}, got {values}")
    if len(set(values)) != len(values):
        raise InputError(f"{where}: choice values must be distinct, got {values}")
    return Param("choice", values=tuple(values))


def _parse_range(where: str, kind: str, bounds: Any, step: Any, field_type: type) -> Param:
    integer = kind in ("int", "log_int")
    if integer and field_type is not int:
        raise InputError(f"{where}: {kind} needs an integer key; use uniform or log_uniform")
    if not integer and field_type is not float:
        raise InputError(f"{where}: {kind} needs a float key; use int, log_int or choice")
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(map(_is_number, bounds))):
        raise InputError(f"{where}: {kind} needs two numeric bounds [low, high], got {bounds!r}")
    low, high = bounds
    if integer:
        if not all(isinstance(b, int) for b in bounds):
            raise InputError(f"{where}: {kind} bounds must be integers, got {bounds}")
    else:
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise InputError(f"{where}: {kind} bounds must be finite, got {bounds}")
    if not low < high:
        raise InputError(f"{where}: {kind} bounds need low < high, got [{low}, {high}]")
    if kind.startswith("log") and low <= 0:
        raise InputError(f"{where}: {kind} bounds need 0 < low, got [{low}, {high}]")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int) or step <= 0:
            raise InputError(f"{where}: step must be a positive integer, got {step!r}")
        if (high - low) % step:
            raise InputError(f"{where}: step {step} must divide high - low = {high - low}")
    return Param(kind, low=low, high=high, step=step)


def _check_values(where: str, loss: str, key: str, param: Param) -> None:
    """Every choice and both bounds must make a valid TrainConfig for the loss."""
    points = param.values if param.kind == "choice" else (param.low, param.high)
    for point in points:
        try:
            TrainConfig(loss=loss).updated({key: point}, where).validate()
        except InputError as error:
            raise InputError(f"{where}: value {point!r} is invalid ({error})") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return toml_scalar(value)


def toml_scalar(value: Any) -> str:
    """A TOML literal for a str, bool, int or float (floats keep their exact ``repr``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    raise TypeError(f"no TOML literal for {value!r}")
