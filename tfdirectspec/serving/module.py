"""The exported ``tf.Module``: score tables, id maps, exclusions and five signatures.

Signatures (``RAW`` is ``int64`` or ``string``, as the data's raw ids were):

=================== =============================== =========================================
signature           inputs                          outputs
=================== =============================== =========================================
``serving_default`` ``user_ids`` RAW ``[-1]``       ``item_ids`` RAW ``[-1, K]``,
                                                    ``scores`` float32 ``[-1, K]``,
                                                    ``known_user`` bool ``[-1]``
``user_embeddings`` ``user_ids`` RAW ``[-1]``       ``embeddings`` float32 ``[-1, d]``,
                                                    ``known_user`` bool ``[-1]``
``item_embeddings`` ``item_ids`` RAW ``[-1]``       ``embeddings`` float32 ``[-1, d]``,
                                                    ``known_item`` bool ``[-1]``
``score``           ``user_ids`` RAW ``[-1]``,      ``scores`` float32 ``[-1]``,
                    ``item_ids`` RAW ``[-1]``       ``known_user``, ``known_item`` bool ``[-1]``
``recommend_for_    ``item_ids`` RAW ``[-1, -1]``   ``item_ids`` RAW ``[-1, K]``,
items``             (one row of items per user)     ``scores`` float32 ``[-1, K]``,
                                                    ``known_items`` int32 ``[-1]``
=================== =============================== =========================================

Semantics:

* ``serving_default``: the top ``K`` items by ``user · item`` for each user, the
  user's training (and validation) items excluded, best first (ties: lower
  item index first, as ``tf.math.top_k``). A user with fewer than ``K`` unseen
  items gets ``-inf`` scores in the slots past them. An **unknown user id**
  is not an error: its row holds the ``K`` most popular items (by training
  interactions, which are all unseen for a new user) with their training
  interaction counts as ``scores``, and ``known_user`` is false.
* ``user_embeddings`` / ``item_embeddings``: the scoring vectors (for
  LightGCN, the propagated ones); unknown ids give a zero vector and a false
  flag.
* ``score``: ``user_ids[j] · item_ids[j]`` for each position ``j`` (the two
  inputs must have the same length, else the call fails with
  ``INVALID_ARGUMENT``). Training items are not masked. An **unknown user or
  item id** gives ``NaN`` and a false ``known_user``/``known_item`` flag.
* ``recommend_for_items``: a user who is not in the tables, given as the items they
  touched (one row per user, padded with any id the model does not know: unknown ids
  are skipped, ``known_items`` counts the others), is folded in
  (:mod:`tfdirectspec.serving.fold_in`, the export's method) and gets the top ``K``
  items by ``u · item``, the given items excluded. A row without a known item gets
  the most popular items, as an unknown user does in ``serving_default``.

The exclusion lists live in the SavedModel in sparse (CSR) form; a request
gathers its users' rows and scatters ``-inf`` into its own
``[users in request, items]`` score block. No dense users × items matrix is
ever built. Catalogs of at least four :data:`TOP_K_BLOCK` blocks (262,144
items) take the top ``K`` blockwise (:func:`blocked_top_k`: exact, the same ids
and scores as one ``tf.math.top_k``, ties included), measured ~1.6× faster than
one ``tf.math.top_k`` on a 1M-item score row and slower on a 100k one
(``docs/benchmarks/serving_catalog_size.json``). Either way the request's time
is dominated by reading the item table (``pipelines/benchmarks/bench_serving.py --items``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.serving.fold_in import DEFAULT_L2, FOLD_IN_METHODS, fold_in_vectors
from tfdirectspec.serving.topk import TOP_K_BLOCK, blocked_top_k, masked_top_k

__all__ = [
    "SIGNATURES",
    "TOP_K_BLOCK",
    "ExportTables",
    "RecommenderModule",
    "blocked_top_k",
    "build_module",
    "id_dtype_name",
]

#: Signature names of an export, ``serving_default`` first.
SIGNATURES = (
    "serving_default",
    "user_embeddings",
    "item_embeddings",
    "score",
    "recommend_for_items",
)


@dataclasses.dataclass(frozen=True, eq=False)
class ExportTables:
    """Everything an export holds, in NumPy form.

    Attributes:
        user_table: ``[U, d]`` float32 scoring vectors of the users.
        item_table: ``[I, d]`` float32 scoring vectors of the items.
        user_ids: ``[U]`` raw user ids (index → raw id), int64 or str.
        item_ids: ``[I]`` raw item ids.
        exclude: ``U × I`` CSR matrix of the items never recommended to a user
            (train and validation interactions).

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> users = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # raw ids 10, 11
        >>> items = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], np.float32)  # 100, 101, 102
        >>> seen = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 1]], np.float32))  # train items
        >>> tables = ExportTables(users, items, np.array([10, 11]), np.array([100, 101, 102]), seen)
        >>> tables.num_items, tables.popularity().tolist()
        (3, [1, 0, 1])
    """

    user_table: np.ndarray
    item_table: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    exclude: sp.csr_matrix

    def __post_init__(self) -> None:
        users, items = self.user_table, self.item_table
        if users.ndim != 2 or items.ndim != 2 or users.shape[1] != items.shape[1]:
            raise ValueError(f"tables must be [U, d] and [I, d], got {users.shape}, {items.shape}")
        if len(self.user_ids) != users.shape[0] or len(self.item_ids) != items.shape[0]:
            raise ValueError(
                f"id maps have {len(self.user_ids)} users and {len(self.item_ids)} items, "
                f"the tables {users.shape[0]} and {items.shape[0]}"
            )
        if self.exclude.shape != (users.shape[0], items.shape[0]):
            raise ValueError(f"exclude matrix has shape {self.exclude.shape}")

    @classmethod
    def example(cls) -> ExportTables:
        """Two users (raw ids 10, 11) and three items (100, 101, 102), each user's first
        preference already seen in training: the tables of the examples in this package.

        Example:
            >>> tables = ExportTables.example()
            >>> tables.num_items, tables.exclude.toarray().tolist()
            (3, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        """
        users = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
        items = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], np.float32)
        seen = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 1]], np.float32))  # train items
        return cls(users, items, np.array([10, 11]), np.array([100, 101, 102]), seen)

    @property
    def num_items(self) -> int:
        """Number of items ``I``."""
        return int(self.item_table.shape[0])

    def popularity(self) -> np.ndarray:
        """Users who interacted with each item (the unknown-user fallback ranks by it)."""
        seen = sp.csr_matrix(self.exclude, copy=True)
        seen.sum_duplicates()
        seen.eliminate_zeros()
        return np.bincount(seen.indices, minlength=self.num_items).astype(np.int64)


def id_dtype_name(ids: np.ndarray) -> str:
    """``"int64"`` for integer raw ids, ``"string"`` otherwise."""
    return "int64" if ids.dtype.kind in "iu" else "string"


def build_module(
    tables: ExportTables,
    k: int,
    top_k_block: int = TOP_K_BLOCK,
    fold_in: str = FOLD_IN_METHODS[0],
    fold_in_l2: float = DEFAULT_L2,
) -> RecommenderModule:
    """The ``tf.Module`` with the serving functions of :data:`SIGNATURES` (see the module doc).

    Args:
        tables: the export's content.
        k: recommendations per user in ``serving_default`` (``1..I``).
        top_k_block: catalogs of at least 4 such blocks take the top-K in blocks of
            this many items (at least ``k``); the results are the same either way.
        fold_in: the fold-in method of ``recommend_for_items`` (``"mean"``, ``"ridge"``).
        fold_in_l2: the ridge fold-in's relative L2 weight.

    Example:
        >>> tables = ExportTables.example()  # users 10, 11; items 100-102; seen: 10-100, 11-102
        >>> module = build_module(tables, k=2)
        >>> out = module.serving_default(tf.constant([10, 99], tf.int64))  # 99: unknown user
        >>> out["item_ids"].numpy().tolist()  # user 10 never gets its train item 100
        [[101, 102], [100, 102]]
        >>> out["scores"].numpy().tolist(), out["known_user"].numpy().tolist()
        ([[0.5, 0.0], [1.0, 1.0]], [True, False])
        >>> given = tf.constant([[100, -1], [7, -1]], tf.int64)  # -1, 7: not items (padding)
        >>> out = module.recommend_for_items(given)
        >>> out["item_ids"].numpy().tolist(), out["known_items"].numpy().tolist()
        ([[101, 102], [100, 102]], [1, 0])
    """
    return RecommenderModule(tables, k, top_k_block, fold_in, fold_in_l2)


class RecommenderModule(tf.Module):
    """Top-K recommendation, embeddings and scores over fixed tables.

    The functions have explicit input signatures (dtype of the raw ids,
    ``[None]`` batches), so each traces once and saves as one signature.

    Args:
        tables: the export's content (:class:`ExportTables`).
        k: recommendations per user.
        top_k_block: items per block of the blocked top-K, used when the catalog
            has at least 4 blocks (:func:`blocked_top_k`).
        fold_in: fold-in method of ``recommend_for_items``.
        fold_in_l2: the ridge fold-in's relative L2 weight.
    """

    def __init__(
        self,
        tables: ExportTables,
        k: int,
        top_k_block: int = TOP_K_BLOCK,
        fold_in: str = FOLD_IN_METHODS[0],
        fold_in_l2: float = DEFAULT_L2,
    ) -> None:
        super().__init__(name="tfdirectspec_recommender")
        if fold_in not in FOLD_IN_METHODS:
            raise ValueError(f"fold_in must be one of {FOLD_IN_METHODS}, got {fold_in!r}")
        self.fold_in, self.fold_in_l2 = fold_in, float(fold_in_l2)
        num_users, dim = tables.user_table.shape
        self.k = int(k)
        self.top_k_block = max(int(top_k_block), self.k)
        self.num_users, self.num_items, self.dim = int(num_users), tables.num_items, int(dim)
        self.user_table = tf.Variable(
            tables.user_table.astype(np.float32), trainable=False, name="user_table"
        )
        self.item_table = tf.Variable(
            tables.item_table.astype(np.float32), trainable=False, name="item_table"
        )
        self.user_ids = tf.Variable(_raw(tables.user_ids), trainable=False, name="user_ids")
        self.item_ids = tf.Variable(_raw(tables.item_ids), trainable=False, name="item_ids")
        exclude = sp.csr_matrix(tables.exclude)
        exclude.sum_duplicates()
        self.exclude_indptr = tf.Variable(
            exclude.indptr.astype(np.int64), trainable=False, name="exclude_indptr"
        )
        # int32 columns halve the stored size; every item index fits.
        self.exclude_indices = tf.Variable(
            exclude.indices.astype(np.int32), trainable=False, name="exclude_indices"
        )
        popularity = tables.popularity()
        popular = np.argsort(-popularity, kind="stable")[: self.k]
        self.popular_items = tf.Variable(
            popular.astype(np.int32), trainable=False, name="popular_items"
        )
        self.popular_scores = tf.Variable(
            popularity[popular].astype(np.float32), trainable=False, name="popular_scores"
        )
        self.user_index = _index_table(tables.user_ids, "user_index")
        self.item_index = _index_table(tables.item_ids, "item_index")

        users = tf.TensorSpec([None], _tf_dtype(tables.user_ids), name="user_ids")
        items = tf.TensorSpec([None], _tf_dtype(tables.item_ids), name="item_ids")
        self.serving_default = tf.function(self._recommend, input_signature=[users])
        self.user_embeddings = tf.function(self._user_embeddings, input_signature=[users])
        self.item_embeddings = tf.function(self._item_embeddings, input_signature=[items])
        self.score = tf.function(self._score, input_signature=[users, items])
        item_rows = tf.TensorSpec([None, None], _tf_dtype(tables.item_ids), name="item_ids")
        self.recommend_for_items = tf.function(
            self._recommend_for_items, input_signature=[item_rows]
        )

    def signatures(self) -> dict[str, Any]:
        """The signature functions by name (:data:`SIGNATURES`), for ``tf.saved_model.save``."""
        return {name: getattr(self, name) for name in SIGNATURES}

    def _lookup(self, table, ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Row indices (0 for unknown ids, so gathers stay valid) and the known flags."""
        index = table.lookup(ids)
        known = index >= 0
        return tf.where(known, index, tf.zeros_like(index)), known

    def _recommend(self, user_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        index, known = self._lookup(self.user_index, user_ids)
        # The request's rows of the exclusion CSR as (row in request, item) pairs;
        # unknown users exclude nothing (their row is replaced below anyway).
        start = tf.gather(self.exclude_indptr, index)
        stop = tf.where(known, tf.gather(self.exclude_indptr, index + 1), start)
        positions = tf.ragged.range(start, stop)
        rows = positions.value_rowids()
        cols = tf.cast(tf.gather(self.exclude_indices, positions.flat_values), tf.int64)
        vectors = tf.gather(self.user_table, index)
        return self._top_k_or_popular(vectors, rows, cols, known)

    def _recommend_for_items(self, item_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        index, known = self._lookup(self.item_index, item_ids)
        vectors = fold_in_vectors(self.item_table, index, known, self.fold_in, self.fold_in_l2)
        # The given (known) items are the new user's seen items.
        where = tf.where(known)
        cols = tf.gather_nd(index, where)
        known_items = tf.reduce_sum(tf.cast(known, tf.int32), axis=1)
        out = self._top_k_or_popular(vectors, where[:, 0], cols, known_items > 0)
        return {"item_ids": out["item_ids"], "scores": out["scores"], "known_items": known_items}

    def _top_k_or_popular(
        self, vectors: tf.Tensor, rows: tf.Tensor, cols: tf.Tensor, known: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Top ``K`` of ``vectors · itemsᵀ`` with ``(rows, cols)`` masked; popular items
        for the rows that are not ``known``."""
        top_scores, top_index = masked_top_k(
            vectors, self.item_table, rows, cols, self.k, self.top_k_block
        )
        known_rows = known[:, None]
        top_index = tf.where(known_rows, top_index, self.popular_items[None, :])
        top_scores = tf.where(known_rows, top_scores, self.popular_scores[None, :])
        return {
            "item_ids": tf.gather(self.item_ids, top_index),
            "scores": top_scores,
            "known_user": known,
        }

    def _user_embeddings(self, user_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        index, known = self._lookup(self.user_index, user_ids)
        vectors = tf.gather(self.user_table, index) * tf.cast(known, tf.float32)[:, None]
        return {"embeddings": vectors, "known_user": known}

    def _item_embeddings(self, item_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        index, known = self._lookup(self.item_index, item_ids)
        vectors = tf.gather(self.item_table, index) * tf.cast(known, tf.float32)[:, None]
        return {"embeddings": vectors, "known_item": known}

    def _score(self, user_ids: tf.Tensor, item_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        tf.debugging.assert_equal(
            tf.size(user_ids),
            tf.size(item_ids),
            message="score: user_ids and item_ids must have the same length",
        )
        user_index, known_user = self._lookup(self.user_index, user_ids)
        item_index, known_item = self._lookup(self.item_index, item_ids)
        dots = tf.reduce_sum(
            tf.gather(self.user_table, user_index) * tf.gather(self.item_table, item_index),
            axis=1,
        )
        nan = tf.fill(tf.shape(dots), tf.constant(np.nan, tf.float32))
        return {
            "scores": tf.where(tf.logical_and(known_user, known_item), dots, nan),
            "known_user": known_user,
            "known_item": known_item,
        }


def _tf_dtype(ids: np.ndarray) -> tf.DType:
    return tf.int64 if ids.dtype.kind in "iu" else tf.string


def _raw(ids: np.ndarray) -> np.ndarray:
    """Raw ids as TensorFlow takes them: int64, or Python strings (object array)."""
    return ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(str).astype(object)


def _index_table(ids: np.ndarray, name: str) -> tf.lookup.StaticHashTable:
    """Raw id -> row index hash table (-1 for unknown ids)."""
    keys = tf.constant(_raw(ids), dtype=_tf_dtype(ids))
    values = tf.range(len(ids), dtype=tf.int64)
    initializer = tf.lookup.KeyValueTensorInitializer(keys, values)
    return tf.lookup.StaticHashTable(initializer, default_value=-1, name=name)


# -- versions and atomic writes ---------------------------------------------------
