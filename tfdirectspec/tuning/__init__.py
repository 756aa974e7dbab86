"""Hyper-parameter search (``tfdirectspec tune``): search spaces, early stopping, budget, tuner."""

from tfdirectspec.tuning.space import (
    Param,
    SearchSpace,
    dump_space,
    load_space,
    load_space_text,
    losses_with_space,
    space_path,
)

__all__ = [
    "Param",
    "SearchSpace",
    "dump_space",
    "load_space",
    "load_space_text",
    "losses_with_space",
    "space_path",
]
