"""The rules every hyper-parameter obeys, each written once.

The config (:class:`~tfdirectspec.training.TrainConfig`), the losses, the towers, the
evaluation and the export all check their arguments with these functions, so a rule
cannot drift between them. A broken rule raises :class:`ParameterError`, whose message
names the *parameter* (``group_size must divide batch_size, got 100 and 256``); the
command line renders the same error with its flags (``--group-size must divide
--batch-size, ...``) through :meth:`ParameterError.render`.

Example:
    >>> check_layers(3)
    3
    >>> try:
    ...     check_group_size(100, batch_size=256)
    ... except ParameterError as error:
    ...     print(error)
    ...     print(error.render(lambda name: "--" + name.replace("_", "-")))
    group_size must divide batch_size, got 100 and 256
    --group-size must divide --batch-size, got 100 and 256
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tfdirectspec.errors import InputError

#: Most LightGCN propagation layers accepted (Â^10 E already averages over the whole graph).
MAX_LAYERS = 10
#: How LightGCN combines its layers: the mean (LightGCN) or the sum (the DirectSpec authors).
COMBINATIONS = ("mean", "sum")


#: Recommendations per user of an export and of ``recommend`` when ``k`` is not given.
DEFAULT_K = 20


class ParameterError(InputError):
    """A parameter outside its rule.

    Args:
        parameter: the parameter's name in the library (e.g. ``"group_size"``).
        problem: what is wrong, starting with a verb (``"must be positive, got 0"``);
            it may name other parameters listed in ``related``.
        related: other parameter names that ``problem`` mentions.
    """

    def __init__(self, parameter: str, problem: str, related: Sequence[str] = ()) -> None:
        self.parameter, self.problem, self.related = parameter, problem, tuple(related)
        super().__init__(f"{parameter} {problem}")

    def render(self, name: Callable[[str], str]) -> str:
        """The message with every parameter name replaced by ``name(parameter)``."""
        problem = self.problem
        for other in self.related:
            problem = re.sub(rf"\b{re.escape(other)}\b", name(other), problem)
        return f"{name(self.parameter)} {problem}"


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive(parameter: str, value: float) -> float:
    """``value > 0`` (NaN fails)."""
    if not value > 0:
        raise ParameterError(parameter, f"must be positive, got {value}")
    return value


def check_non_negative(parameter: str, value: float) -> float:
    """``value >= 0`` (NaN fails)."""
    if not value >= 0:
        raise ParameterError(parameter, f"must be >= 0, got {value}")
    return value


def check_fraction(parameter: str, value: Any) -> float:
    """A share of the data in ``[0, 1)``, as a float.

    Example:
        >>> check_fraction("test_fraction", "0.2")
        0.2
    """
    try:
        share = float(value)
    except (TypeError, ValueError):
        raise ParameterError(parameter, f"must be a number in [0, 1), got {value!r}") from None
    if not 0 <= share < 1:
        raise ParameterError(parameter, f"must be in [0, 1), got {value}")
    return share


def check_choice(parameter: str, value: str, known: Iterable[str]) -> str:
    """``value`` is one of ``known``."""
    known = tuple(known)
    if value not in known:
        raise ParameterError(parameter, f"must be one of {', '.join(known)}, got {value!r}")
    return value


def check_layers(value: object, parameter: str = "num_layers") -> int:
    """LightGCN layers: an int in ``0..MAX_LAYERS``."""
    if not _is_int(value) or not 0 <= value <= MAX_LAYERS:
        raise ParameterError(parameter, f"must be between 0 and {MAX_LAYERS}, got {value}")
    return int(value)


def check_combination(value: str, parameter: str = "combination") -> str:
    """LightGCN's layer combination, one of :data:`COMBINATIONS`."""
    return check_choice(parameter, value, COMBINATIONS)


def check_adaptive_tau(tau0: float | None, tau1: float | None) -> None:
    """Adaptive temperatures come together and satisfy ``0 < tau0 <= tau1``."""
    if (tau0 is None) != (tau1 is None):
        raise ParameterError("tau0", "and tau1 must be given together", related=("tau1",))
    if tau0 is not None and not 0 < tau0 <= tau1:
        raise ParameterError(
            "tau0", f"and tau1 need 0 < tau0 <= tau1, got {tau0} and {tau1}", related=("tau1",)
        )


def check_group_size(
    group_size: int,
    batch_size: int | None = None,
    adaptive: bool = False,
    loss: str | None = None,
) -> int:
    """DirectSpec+'s filter blocks: ``>= 0``, dividing the batch, without adaptive τ.

    Args:
        group_size: rows per block (0 = the whole batch).
        batch_size: the batch it must divide, when known.
        adaptive: whether adaptive temperatures (tau0/tau1) are set.
        loss: the loss name, when known: blocks are a DirectSpec+ option.
    """
    if not _is_int(group_size) or group_size < 0:
        raise ParameterError("group_size", f"must be an integer >= 0, got {group_size}")
    if not group_size:
        return 0
    if loss is not None and loss != "directspec+":
        raise ParameterError("group_size", f"applies to loss directspec+, not {loss}")
    if batch_size is not None and batch_size % group_size:
        raise ParameterError(
            "group_size",
            f"must divide batch_size, got {group_size} and {batch_size}",
            related=("batch_size",),
        )
    if adaptive:
        raise ParameterError(
            "group_size", "cannot be combined with tau0/tau1", related=("tau0", "tau1")
        )
    return int(group_size)


def check_multi_worker(time_budget: float) -> None:
    """Settings multi-worker training cannot honour.

    A time budget would have each worker read its own clock and stop at its own
    epoch, leaving the others waiting in a collective.
    """
    if time_budget:
        raise ParameterError(
            "time_budget", "is not available with multi-worker training", related=("strategy",)
        )


def check_ks(ks: int | Iterable[int], num_items: int | None = None, parameter: str = "ks") -> list:
    """Ranking cut-offs: integers in ``1..num_items``, duplicates dropped, order kept."""
    values = [ks] if _is_int(ks) else list(ks)
    out: list[int] = []
    for k in values:
        if not _is_int(k):
            raise ParameterError(parameter, f"must be integers, got {k!r}")
        if k < 1:
            raise ParameterError(parameter, f"must be positive, got {k}")
        if num_items is not None and k > num_items:
            raise ParameterError(parameter, f"{k} exceeds the number of items ({num_items})")
        if int(k) not in out:
            out.append(int(k))
    if not out:
        raise ParameterError(parameter, "needs at least one value")
    return out
