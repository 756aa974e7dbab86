"""A tiny ``user<TAB>item`` data folder for the baselines' end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np


def write_tiny_log(
    root: Path,
    user_id: Callable[[int], int] = lambda user: user,
    item_id: Callable[[int], int] = lambda item: item,
) -> Path:
    """``root/data`` with 40 users, 50 items, 7 train and 2 test items each (seed 0).

    ``user_id``/``item_id`` map the 0-based indices to the raw ids written (e.g. sparse
    ids, to check that the raw ids survive a run).
    """
    rng = np.random.default_rng(0)
    folder = root / "data"
    folder.mkdir()
    lines: dict[str, list[str]] = {"train": [], "test": []}
    for user in range(40):
        items = rng.choice(50, 9, replace=False)
        rows = [f"{user_id(user)}\t{item_id(i)}\n" for i in items]
        lines["train"] += rows[:7]
        lines["test"] += rows[7:]
    for name, rows in lines.items():
        (folder / f"{name}.tsv").write_text("".join(rows))
    return folder
