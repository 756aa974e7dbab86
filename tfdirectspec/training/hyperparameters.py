"""The registry of losses and towers, and their hyper-parameters read from the classes.

A class's ``__init__`` signature (names, annotations, defaults) and the ``Args:`` section of
its docstring are the one declaration of its hyper-parameters. The training config's fields,
its TOML keys, the ``train``/``tune`` flags and the names a search space may use are derived
from them here. The sources are parsed with :mod:`ast` rather than imported because the
command line resolves and checks a run before TensorFlow loads.

Example:
    >>> [p.key for p in loss_parameters("directau")]
    ['gamma']
    >>> spec = next(p for p in loss_parameters("directspec+") if p.key == "tau")
    >>> spec.kind, spec.default, spec.help
    ('float', 3.0, 'temperature τ > 0 (ignored when adaptive).')
    >>> [(p.argument, p.key) for p in tower_parameters("lightgcn")]
    [('embedding_dim', 'dim'), ('num_layers', 'layers'), ('combination', 'combination')]
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

#: Loss name (``TrainConfig.loss``, ``--loss``) -> (module in tfdirectspec.losses, class).
LOSS_CLASSES: dict[str, tuple[str, str]] = {
    "bpr": ("bpr", "BPRLoss"),
    "positive-only": ("positive_only", "PositiveOnlyLoss"),
    "directspec": ("directspec", "DirectSpecLoss"),
    "directspec+": ("directspec_plus", "DirectSpecPlusLoss"),
    "directau": ("directau", "DirectAULoss"),
    "ssm": ("sampled_softmax", "SampledSoftmaxLoss"),
    "ials": ("ials", "IALSLoss"),  # the batch form of its objective (the run solves by ALS)
}
#: Tower name (``TrainConfig.tower``, ``--tower``) -> (module in tfdirectspec.towers, class).
TOWER_CLASSES: dict[str, tuple[str, str]] = {
    "mf": ("mf", "MFTower"),
    "lightgcn": ("lightgcn", "LightGCNTower"),
}
#: The loss whose class defaults are the config's defaults where several losses share a key.
DEFAULT_LOSS = "directspec+"

#: ``__init__`` arguments every Keras loss takes: not hyper-parameters.
KERAS_ARGUMENTS = ("name", "reduction", "dtype")
#: Tower arguments the data or the run fixes (table sizes, graph size, the run's ``seed``).
TOWER_WIRING = ("num_users", "num_items", "num_edges", "seed")
#: Config keys of tower arguments whose flag is shorter than the Keras-style argument name.
TOWER_KEYS = {"embedding_dim": "dim", "num_layers": "layers"}

_PACKAGE = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class HyperParameter:
    """One ``__init__`` argument of a loss or tower class.

    Attributes:
        key: its config key (and TOML key; the flag is ``--key`` with ``-`` for ``_``).
        argument: the ``__init__`` argument it is passed as (the key, except for towers).
        kind: its annotation's base type: ``"float"``, ``"int"``, ``"bool"`` or ``"str"``.
        optional: whether the annotation admits ``None``.
        default: the class default.
        help: its line(s) of the class docstring's ``Args:`` section.
    """

    key: str
    argument: str
    kind: str
    optional: bool
    default: Any
    help: str

    @property
    def annotation(self) -> str:
        return f"{self.kind} | None" if self.optional else self.kind


@functools.cache
def loss_parameters(loss: str) -> tuple[HyperParameter, ...]:
    """The hyper-parameters of loss ``loss``, in signature order."""
    module, class_name = LOSS_CLASSES[loss]
    return _class_parameters(_PACKAGE / "losses" / f"{module}.py", class_name, KERAS_ARGUMENTS, {})


@functools.cache
def tower_parameters(tower: str) -> tuple[HyperParameter, ...]:
    """The hyper-parameters of tower ``tower``, in signature order."""
    module, class_name = TOWER_CLASSES[tower]
    path = _PACKAGE / "towers" / f"{module}.py"
    return _class_parameters(path, class_name, TOWER_WIRING, TOWER_KEYS)


def all_loss_parameters() -> dict[str, list[tuple[str, HyperParameter]]]:
    """Each loss hyper-parameter key -> the ``(loss, parameter)`` pairs that declare it."""
    return _by_key(LOSS_CLASSES, loss_parameters)


def shared_default(declared: list[tuple[str, HyperParameter]]) -> HyperParameter:
    """The declaration whose default a config key takes when several classes declare it:
    :data:`DEFAULT_LOSS`'s, else the first in registry order.

    Example:
        >>> shared_default(all_loss_parameters()["reg"]).default  # directspec+: no L2
        0.0
    """
    return next((p for owner, p in declared if owner == DEFAULT_LOSS), declared[0][1])


def all_tower_parameters() -> dict[str, list[tuple[str, HyperParameter]]]:
    """Each tower hyper-parameter key -> the ``(tower, parameter)`` pairs that declare it."""
    return _by_key(TOWER_CLASSES, tower_parameters)


def _by_key(
    registry: dict[str, tuple[str, str]], parameters: Any
) -> dict[str, list[tuple[str, HyperParameter]]]:
    """Key -> the ``(name, parameter)`` pairs of the registry's classes, in registry order."""
    found: dict[str, list[tuple[str, HyperParameter]]] = {}
    for name in registry:
        for parameter in parameters(name):
            found.setdefault(parameter.key, []).append((name, parameter))
    return found


def flag_help(declared: list[tuple[str, HyperParameter]]) -> str:
    """The ``--flag`` help of a hyper-parameter: each declaring class's docstring line.

    Example:
        >>> flag_help(all_loss_parameters()["tau0"])
        'directspec+: temperature of pairs that share an interaction (adaptive)'
    """
    lines: dict[str, list[str]] = {}
    for owner, parameter in declared:
        lines.setdefault(parameter.help.rstrip("."), []).append(owner)
    return "; ".join(f"{', '.join(owners)}: {text}" for text, owners in lines.items())


def _class_parameters(
    path: Path, class_name: str, skipped: tuple[str, ...], keys: dict[str, str]
) -> tuple[HyperParameter, ...]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    helps = _docstring_args(ast.get_docstring(cls) or "")
    args = init.args.args[1:]  # without self
    defaults = [None] * (len(args) - len(init.args.defaults)) + list(init.args.defaults)
    parameters = []
    for arg, default in zip(args, defaults, strict=True):
        if arg.arg in skipped:
            continue
        annotation = ast.unparse(arg.annotation) if arg.annotation else "float"
        parts = [p.strip() for p in annotation.split("|")]
        kind = next(p for p in parts if p != "None")
        value = None if default is None else ast.literal_eval(default)
        key = keys.get(arg.arg, arg.arg)
        help_text = helps.get(arg.arg, "")
        parameters.append(HyperParameter(key, arg.arg, kind, "None" in parts, value, help_text))
    return tuple(parameters)


def _docstring_args(doc: str) -> dict[str, str]:
    """``name -> text`` of a Google-style ``Args:`` section (continuation lines joined)."""
    found: dict[str, str] = {}
    inside, current = False, None
    for line in doc.splitlines():
        if line.strip() == "Args:":
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            break  # the next section
        match = re.match(r"^ {4}(\w+): (.*)$", line) if inside else None
        if match:
            current = match.group(1)
            found[current] = match.group(2).strip()
        elif inside and current and line.startswith("        "):
            found[current] += " " + line.strip()
    return found


#: Hyper-parameters of the losses without a loss class (EASE^R is a closed form in ``reg``).
CLASSLESS_LOSS_KEYS: dict[str, tuple[str, ...]] = {"ease": ("reg",)}


def model_keys(tower: str, loss: str) -> tuple[str, ...]:
    """The config keys of the hyper-parameters ``tower`` and ``loss`` take: their classes'
    ``__init__`` arguments (EASE^R, which has no loss class, takes ``reg``).

    Example:
        >>> model_keys("lightgcn", "bpr")
        ('dim', 'layers', 'combination', 'reg')
    """
    keys = tuple(p.key for p in tower_parameters(tower))
    if loss in CLASSLESS_LOSS_KEYS:
        return (*keys, *CLASSLESS_LOSS_KEYS[loss])
    if loss not in LOSS_CLASSES:
        raise ValueError(f"unknown loss {loss!r}")
    return (*keys, *(p.key for p in loss_parameters(loss)))


def unused_keys(tower: str, loss: str) -> set[str]:
    """The hyper-parameter keys that neither ``tower`` nor ``loss`` takes: their values do
    not change a run of that model.

    Example:
        >>> sorted(unused_keys("mf", "bpr"))[:4]
        ['alpha', 'combination', 'gamma', 'group_size']
    """
    return {*all_tower_parameters(), *all_loss_parameters()} - set(model_keys(tower, loss))
