"""Top-K recommendations of a run or an export, scored from its tables in blocks of users.

For users ``B`` (a block), ``scores = U_B · Vᵀ`` with each user's seen items (the
run's train ∪ valid pairs, an export's exclusions) set to ``-inf``, then the ``K`` best
(:func:`~tfdirectspec.serving.topk.masked_top_k`, as the export's ``serving_default``).
A block holds at most ``max_block_scores`` scores, so memory does not grow with the
number of users; no users × items matrix is built. A new user given as items is folded
in (:mod:`tfdirectspec.serving.fold_in`) and scored the same way, their items excluded.

Rows come out in the long form every writer takes::

    user_id  raw user id     (int64 or string, as the data's ids)
    rank     1..K            (int32, best first)
    item_id  raw item id
    score    u · v_item      (float32)

A user with fewer than ``K`` unseen items gets fewer rows.

Example:
    >>> from tfdirectspec.serving.module import ExportTables
    >>> rec = Recommender(ExportTables.example())  # users 10, 11; items 100-102
    >>> rows = rec.rows(rec.user_index(["11"]), k=2)  # 11 has seen item 102
    >>> rows["item_id"].tolist(), rows["rank"].tolist(), rows["score"].tolist()
    ([101, 100], [1, 2], [0.5, 0.0])
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.errors import InputError
from tfdirectspec.evaluation.blocks import DEFAULT_MAX_BLOCK_SCORES, block_rows
from tfdirectspec.parameters import ParameterError, check_ks
from tfdirectspec.serving.fold_in import DEFAULT_L2, FOLD_IN_METHODS, fold_in_vectors
from tfdirectspec.serving.module import ExportTables
from tfdirectspec.serving.topk import masked_top_k

#: Columns of the recommendation rows, in order.
COLUMNS = ("user_id", "rank", "item_id", "score")


class Recommender:
    """Scores users of fixed tables in bounded blocks.

    Args:
        tables: the tables, id maps and exclusions (:class:`ExportTables`).
        fold_in: fold-in method for :meth:`fold_in_rows` (``"mean"`` or ``"ridge"``).
        fold_in_l2: the ridge fold-in's relative L2 weight.
        max_block_scores: most scores (users × items) scored at once.
        source: a label for messages (the run or export path).
    """

    def __init__(
        self,
        tables: ExportTables,
        fold_in: str = FOLD_IN_METHODS[0],
        fold_in_l2: float = DEFAULT_L2,
        max_block_scores: int = DEFAULT_MAX_BLOCK_SCORES,
        source: str = "",
    ) -> None:
        if fold_in not in FOLD_IN_METHODS:
            raise ParameterError("fold_in", f"must be one of {', '.join(FOLD_IN_METHODS)}")
        self.tables = tables
        self.fold_in, self.fold_in_l2 = fold_in, float(fold_in_l2)
        self.source = source
        self.exclude = sp.csr_matrix(tables.exclude)
        self.exclude.sum_duplicates()
        self.num_users, self.num_items = tables.user_table.shape[0], tables.num_items
        self.rows_per_block = block_rows(self.num_items, 1 << 30, max_block_scores)
        self._users = tf.constant(tables.user_table, tf.float32)
        self._items = tf.constant(tables.item_table, tf.float32)
        self._user_keys = _SortedIds(tables.user_ids)
        self._item_keys = _SortedIds(tables.item_ids)
        self._top_k: dict[int, Any] = {}

    @classmethod
    def open(cls, model: str | os.PathLike, **kwargs: Any) -> Recommender:
        """The recommender of a finished run directory or an export (base path or version)."""
        from tfdirectspec.serving.sources import read_tables

        return cls(read_tables(model), source=str(model), **kwargs)

    # -- ids --------------------------------------------------------------------------

    @property
    def integer_ids(self) -> tuple[bool, bool]:
        """Whether the user and the item ids are integers."""
        return self._user_keys.integer, self._item_keys.integer

    def user_index(self, raw_ids: Any, where: str = "user") -> np.ndarray:
        """Row indices of raw user ids; an unknown one is an :class:`InputError` naming it.

        Args:
            raw_ids: raw ids (strings are converted for integer ids).
            where: what to name in the error (a flag), or a function of the position
                of the id that returns it (``FILE:LINE``).
        """
        return self._user_keys.index(raw_ids, where, "user")

    def user_index_or_unknown(self, raw_ids: Any, where: str = "user") -> np.ndarray:
        """Row indices of raw user ids, ``-1`` for unknown ones."""
        return self._user_keys.index(raw_ids, where, "user", strict=False)

    def item_index(self, raw_ids: Any, where: str = "items") -> np.ndarray:
        """Column indices of raw item ids; an unknown one is an :class:`InputError` naming it."""
        return self._item_keys.index(raw_ids, where, "item")

    # -- scoring ----------------------------------------------------------------------

    def check_k(self, k: int) -> int:
        """``k`` in ``1..I``."""
        return check_ks(k, self.num_items, parameter="k")[0]

    def top_k(self, users: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(item indices, scores)`` ``[n, k]`` of users given by row index, seen items masked."""
        k = self.check_k(k)
        users = np.asarray(users, dtype=np.int64)
        parts_i, parts_s = [], []
        for start in range(0, len(users), self.rows_per_block):
            block = users[start : start + self.rows_per_block]
            seen = self.exclude[block]
            rows = np.repeat(np.arange(len(block), dtype=np.int64), np.diff(seen.indptr))
            vectors = tf.gather(self._users, block)
            scores, index = self._top_k_fn(k)(vectors, rows, seen.indices.astype(np.int64))
            parts_i.append(index.numpy())
            parts_s.append(scores.numpy())
        if not parts_i:
            return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
        return np.concatenate(parts_i), np.concatenate(parts_s)

    def rows(self, users: np.ndarray, k: int) -> dict[str, np.ndarray]:
        """The long-form rows (:data:`COLUMNS`) of users given by row index."""
        index, scores = self.top_k(users, k)
        user_ids = self.tables.user_ids[np.asarray(users, dtype=np.int64)]
        return self._long_rows(user_ids, index, scores)

    def fold_in_vector(self, items: np.ndarray) -> np.ndarray:
        """``[d]`` scoring vector of a new user from item column indices."""
        items = np.asarray(items, dtype=np.int64)[None, :]
        known = tf.ones(items.shape, tf.bool)
        vector = fold_in_vectors(self._items, items, known, self.fold_in, self.fold_in_l2)
        return vector.numpy()[0]

    def fold_in_top_k(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(item indices, scores)`` ``[k]`` for a new user who touched ``items`` (indices)."""
        k = self.check_k(k)
        items = np.unique(np.asarray(items, dtype=np.int64))
        vector = self.fold_in_vector(items)[None, :]
        rows = np.zeros(len(items), dtype=np.int64)
        scores, index = self._top_k_fn(k)(tf.constant(vector), rows, items)
        return index.numpy()[0], scores.numpy()[0]

    def fold_in_rows(self, items: np.ndarray, k: int) -> dict[str, np.ndarray]:
        """``{"rank", "item_id", "score"}`` for a new user who touched ``items`` (indices)."""
        index, scores = self.fold_in_top_k(items, k)
        rows = self._long_rows(np.zeros(1, np.int64), index[None], scores[None])
        del rows["user_id"]
        return rows

    def popular(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(item indices, interaction counts)`` of the ``k`` most popular items."""
        counts = self.tables.popularity()
        top = np.argsort(-counts, kind="stable")[: self.check_k(k)]
        return top, counts[top]

    def _long_rows(
        self, user_ids: np.ndarray, index: np.ndarray, scores: np.ndarray
    ) -> dict[str, np.ndarray]:
        n, k = index.shape
        keep = np.isfinite(scores).reshape(-1)  # -inf: fewer unseen items than k
        return {
            "user_id": np.repeat(user_ids, k)[keep],
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n)[keep],
            "item_id": self.tables.item_ids[index.reshape(-1)][keep],
            "score": scores.reshape(-1).astype(np.float32)[keep],
        }

    def _top_k_fn(self, k: int):
        """The traced top-``k`` of a block (one trace per ``k``)."""
        if k not in self._top_k:
            items = self._items

            @tf.function(
                input_signature=[
                    tf.TensorSpec([None, items.shape[1]], tf.float32),
                    tf.TensorSpec([None], tf.int64),
                    tf.TensorSpec([None], tf.int64),
                ]
            )
            def top(vectors, rows, cols):
                return masked_top_k(vectors, items, rows, cols, k)

            self._top_k[k] = top
        return self._top_k[k]


class _SortedIds:
    """Raw id -> index look-up by binary search (ids need not be sorted)."""

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids)
        self.integer = ids.dtype.kind in "iu"
        self.ids = ids.astype(np.int64) if self.integer else ids.astype(str)
        self.order = np.argsort(self.ids, kind="stable")
        self.sorted = self.ids[self.order]

    def index(
        self, raw_ids: Any, where: str | Callable[[int], str], kind: str, strict: bool = True
    ) -> np.ndarray:
        values = _parsed(raw_ids, self.integer, where, kind)
        if len(self.sorted) == 0:
            found = np.zeros(len(values), bool)
            position = np.zeros(len(values), np.int64)
        else:
            position = np.minimum(np.searchsorted(self.sorted, values), len(self.sorted) - 1)
            found = self.sorted[position] == values
        if strict and not found.all():
            first = int(np.flatnonzero(~found)[0])
            missing = int((~found).sum())
            more = f" (and {missing - 1} more)" if missing > 1 else ""
            label = where(first) if callable(where) else where
            raise InputError(f"{label}: unknown {kind} id {_plain(values[first])!r}{more}")
        return np.where(found, self.order[position], -1).astype(np.int64)


def _parsed(
    raw_ids: Any, integer: bool, where: str | Callable[[int], str], kind: str
) -> np.ndarray:
    """Raw ids as the model's id type; a non-integer for integer ids is an error naming it."""
    values = np.asarray(raw_ids).reshape(-1)
    if not integer:
        if values.dtype.kind == "S":
            return np.char.decode(values, "utf-8").astype(str)
        return values.astype(str)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    out = np.empty(len(values), np.int64)
    for j, value in enumerate(values.tolist()):
        text = value.decode() if isinstance(value, bytes) else str(value)
        try:
            out[j] = int(text.strip())
        except (ValueError, OverflowError):
            label = where(j) if callable(where) else where
            raise InputError(
                f"{label}: {kind} id {text!r} is not an integer (this model's ids are integers)"
            ) from None
    return out


def _plain(value: Any) -> int | str:
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["COLUMNS", "Recommender"]
