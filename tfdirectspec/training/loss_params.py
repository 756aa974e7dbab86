"""The losses' hyper-parameters, read from their classes' source without importing them.

A loss's ``__init__`` signature (names, annotations, defaults) and the ``Args:`` section
of its class docstring are the one declaration of its hyper-parameters. The training
config's fields, its TOML keys, the ``train``/``tune`` flags and the names a search space
may use are derived from them here. The sources are parsed with :mod:`ast` rather than
imported because the command line resolves and checks a run before TensorFlow loads.

Example:
    >>> [p.name for p in loss_parameters("directau")]
    ['gamma']
    >>> spec = next(p for p in loss_parameters("directspec+") if p.name == "tau")
    >>> spec.kind, spec.default, spec.help
    ('float', 3.0, 'temperature τ > 0 (ignored when adaptive).')
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
#: ``__init__`` arguments every Keras loss takes: not hyper-parameters.
KERAS_ARGUMENTS = ("name", "reduction", "dtype")
_LOSSES_DIR = Path(__file__).resolve().parent.parent / "losses"


@dataclasses.dataclass(frozen=True)
class LossParameter:
    """One ``__init__`` argument of a loss class.

    Attributes:
        name: the argument (and config key) name.
        kind: its annotation's base type: ``"float"``, ``"int"``, ``"bool"`` or ``"str"``.
        optional: whether the annotation admits ``None``.
        default: the class default.
        help: its line(s) of the class docstring's ``Args:`` section.
    """

    name: str
    kind: str
    optional: bool
    default: Any
    help: str

    @property
    def annotation(self) -> str:
        return f"{self.kind} | None" if self.optional else self.kind


@functools.cache
def loss_parameters(loss: str) -> tuple[LossParameter, ...]:
    """The hyper-parameters of loss ``loss``, in signature order."""
    module, class_name = LOSS_CLASSES[loss]
    tree = ast.parse((_LOSSES_DIR / f"{module}.py").read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    helps = _docstring_args(ast.get_docstring(cls) or "")
    args = init.args.args[1:]  # without self
    defaults = [None] * (len(args) - len(init.args.defaults)) + list(init.args.defaults)
    parameters = []
    for arg, default in zip(args, defaults, strict=True):
        if arg.arg in KERAS_ARGUMENTS:
            continue
        annotation = ast.unparse(arg.annotation) if arg.annotation else "float"
        parts = [p.strip() for p in annotation.split("|")]
        kind = next(p for p in parts if p != "None")
        value = None if default is None else ast.literal_eval(default)
        parameters.append(
            LossParameter(arg.arg, kind, "None" in parts, value, helps.get(arg.arg, ""))
        )
    return tuple(parameters)


def all_loss_parameters() -> dict[str, list[tuple[str, LossParameter]]]:
    """Each hyper-parameter name -> the ``(loss, parameter)`` pairs that declare it."""
    found: dict[str, list[tuple[str, LossParameter]]] = {}
    for loss in LOSS_CLASSES:
        for parameter in loss_parameters(loss):
            found.setdefault(parameter.name, []).append((loss, parameter))
    return found


def flag_help(name: str) -> str:
    """The ``--flag`` help of a hyper-parameter: each loss's docstring line for it.

    Example:
        >>> flag_help("tau0")
        'directspec+: temperature of pairs that share an interaction (adaptive)'
    """
    lines: dict[str, list[str]] = {}
    for loss, parameter in all_loss_parameters()[name]:
        lines.setdefault(parameter.help.rstrip("."), []).append(loss)
    return "; ".join(f"{', '.join(losses)}: {text}" for text, losses in lines.items())


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
