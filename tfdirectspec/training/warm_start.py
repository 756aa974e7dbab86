"""Warm start: a new model begins where an earlier run left off, for the ids both know.

For the new data's raw ids ``user_ids`` / ``item_ids`` and an earlier run's tables
``E_user`` / ``E_item`` (its trainable, pre-propagation rows) with raw ids
``old_user_ids`` / ``old_item_ids``::

    row u of the new user table = E_user[j]   if user_ids[u] == old_user_ids[j]
                                = its fresh initial value (the tower's initialiser) otherwise

and the same for items. Ids are matched by value (as text when one side has integer
ids and the other strings), never by position: the new data may add users and items
anywhere in the sorted id maps, or drop some. Optimiser state starts fresh. The
tower type and embedding width must be the earlier run's.

Example:
    >>> import numpy as np
    >>> matches(np.array([10, 12, 13]), np.array([12, 10]))  # 13 is new
    array([ 1,  0, -1])
    >>> matches(np.array(["5", "a"]), np.array([5, 6]))  # compared as text
    array([ 0, -1])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfdirectspec.parameters import ParameterError

if TYPE_CHECKING:
    from tfdirectspec.data import InteractionData
    from tfdirectspec.models import RetrievalModel
    from tfdirectspec.training.config import TrainConfig


def matches(new_ids: np.ndarray, old_ids: np.ndarray) -> np.ndarray:
    """For each new id, its position in ``old_ids`` (``-1`` if absent).

    Integer ids compare as integers; if either side holds strings, both compare as text.
    """
    new_ids, old_ids = np.asarray(new_ids), np.asarray(old_ids)
    if new_ids.dtype.kind not in "iu" or old_ids.dtype.kind not in "iu":
        new_ids, old_ids = new_ids.astype(str), old_ids.astype(str)
    if len(old_ids) == 0:
        return np.full(len(new_ids), -1, dtype=np.int64)
    order = np.argsort(old_ids, kind="stable")
    ordered = old_ids[order]
    position = np.minimum(np.searchsorted(ordered, new_ids), len(ordered) - 1)
    found = ordered[position] == new_ids
    return np.where(found, order[position], -1).astype(np.int64)


def check_warm_start(config: TrainConfig) -> None:
    """The earlier run exists and its tower and width are ``config``'s (NumPy only, fast).

    Raises:
        ParameterError: naming ``warm_start``.
    """
    from tfdirectspec.errors import InputError
    from tfdirectspec.training.run_dir import Run

    try:
        earlier = Run.open(config.warm_start).config()
    except InputError as error:
        raise ParameterError("warm_start", str(error)) from None
    for key in ("tower", "dim"):
        if getattr(earlier, key) != getattr(config, key):
            raise ParameterError(
                "warm_start",
                f"{config.warm_start} has {key} {getattr(earlier, key)}, this run "
                f"{getattr(config, key)} (they must be the same)",
            )


def warm_start(
    model: RetrievalModel, data: InteractionData, run_dir: str | os.PathLike
) -> dict[str, Any]:
    """Copies the earlier run's rows of the users and items ``data`` shares with it.

    Args:
        model: the new, built model (its tower's ``user_embeddings`` and
            ``item_embeddings`` hold the fresh initial values).
        data: the new run's data (its id maps give the rows' raw ids).
        run_dir: the earlier, finished run.

    Returns:
        ``{"run", "users_kept", "users_new", "items_kept", "items_new"}``.

    Raises:
        ParameterError: (naming ``warm_start``) the earlier tables do not fit the tower.
    """
    from tfdirectspec.training.run_dir import Run

    earlier = Run.open(run_dir)
    old_users, old_items = (np.asarray(t) for t in earlier.load_model().tower.ego_tables())
    old_user_ids, old_item_ids = earlier.id_maps()
    tower = model.tower
    record: dict[str, Any] = {"run": str(Path(run_dir))}
    for kind, variable, old, new_ids, old_ids in (
        ("users", tower.user_embeddings, old_users, data.user_ids, old_user_ids),
        ("items", tower.item_embeddings, old_items, data.item_ids, old_item_ids),
    ):
        if old.shape[1] != variable.shape[1]:
            raise ParameterError(
                "warm_start", f"{run_dir} has width {old.shape[1]}, this run {variable.shape[1]}"
            )
        position = matches(new_ids, old_ids)
        kept = position >= 0
        values = np.array(variable.numpy())
        values[kept] = old[position[kept]]
        variable.assign(values)
        record[f"{kind}_kept"] = int(kept.sum())
        record[f"{kind}_new"] = int((~kept).sum())
    return record
