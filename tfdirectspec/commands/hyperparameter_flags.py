"""The hyper-parameter flags: one per argument of the towers' and losses' ``__init__``.

Each flag's name, type and help come from the classes themselves
(:mod:`~tfdirectspec.training.hyperparameters`): an argument added to a loss or a tower class
is a flag of ``tfdirectspec train`` with no edit here.
"""

from __future__ import annotations

import argparse

#: What a flag also means to the classic baselines, which train no tower or loss class.
BASELINE_MEANINGS = {
    "dim": "ials: factors",
    "reg": "ease: λ of the closed form (XᵀX + λI)",
}
_TYPES = {"float": float, "int": int, "str": str}


def add_hyperparameter_flags(parser: argparse.ArgumentParser) -> None:
    """Adds ``--<key>`` for every tower and loss hyper-parameter (``group_size`` ->
    ``--group-size``), in two argument groups.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_hyperparameter_flags(parser)
        >>> args = parser.parse_args(["--tau", "2.5", "--no-normalize", "--layers", "2"])
        >>> args.tau, args.normalize, args.gamma, args.layers
        (2.5, False, None, 2)
    """
    from tfdirectspec.training.hyperparameters import (
        all_loss_parameters,
        all_tower_parameters,
        flag_help,
    )

    for title, parameters in (
        ("tower hyper-parameters (each tower's own arguments)", all_tower_parameters()),
        ("loss hyper-parameters (each loss's own arguments)", all_loss_parameters()),
    ):
        group = parser.add_argument_group(title)
        for key, declared in parameters.items():
            meanings = [flag_help(declared)] + [BASELINE_MEANINGS.get(key, "")]
            options: dict = {"help": "; ".join(filter(None, meanings)).replace("%", "%%")}
            if declared[0][1].kind == "bool":
                options.update(action=argparse.BooleanOptionalAction, default=None)
            else:
                options.update(type=_TYPES[declared[0][1].kind])
            group.add_argument("--" + key.replace("_", "-"), **options)
