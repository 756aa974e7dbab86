"""The loss hyper-parameter flags, one per argument of the losses' ``__init__``.

Each flag's name, type and help come from the loss classes themselves
(:mod:`~tfdirectspec.training.loss_params`): a loss argument added in its class is a flag
of ``tfdirectspec train`` with no edit here.
"""

from __future__ import annotations

import argparse

#: What a flag also means to the closed-form baseline, which has no loss class.
EASE_MEANING = {"reg": "ease: λ of the closed form (XᵀX + λI)"}
_TYPES = {"float": float, "int": int, "str": str}


def add_loss_flags(parser: argparse.ArgumentParser) -> None:
    """Adds ``--<name>`` for every loss hyper-parameter (``group_size`` -> ``--group-size``).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_loss_flags(parser)
        >>> args = parser.parse_args(["--tau", "2.5", "--no-normalize"])
        >>> args.tau, args.normalize, args.gamma
        (2.5, False, None)
    """
    from tfdirectspec.training.loss_params import all_loss_parameters, flag_help

    group = parser.add_argument_group("loss hyper-parameters (each loss's own arguments)")
    for name, declared in all_loss_parameters().items():
        _, parameter = declared[0]
        meanings = [flag_help(name)] + ([EASE_MEANING[name]] if name in EASE_MEANING else [])
        options: dict = {"help": "; ".join(meanings).replace("%", "%%")}
        if parameter.kind == "bool":
            options.update(action=argparse.BooleanOptionalAction, default=None)
        else:
            options.update(type=_TYPES[parameter.kind])
        group.add_argument("--" + name.replace("_", "-"), **options)
