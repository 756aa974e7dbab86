"""Base class of the towers: Keras layers that map user and item ids to embeddings."""

from __future__ import annotations

import keras
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now

#: Keys of the id tensors a tower reads from a training batch.
ID_KEYS = ("user", "item", "negative")


class EmbeddingTower(keras.layers.Layer):
    """A tower owns the embedding parameters of users and items.

    Subclasses implement :meth:`tables`, which returns the full output tables
    ``(user_table, item_table)``; these are the vectors used for scoring,
    ``score(u, i) = user_table[u] · item_table[i]``. Calling the tower on a batch
    ``{"user": ids, "item": ids, "negative": ids (optional), ...}`` gathers the
    rows of those ids and returns them under the same keys, together with the
    layer-0 ("ego") rows under ``"<key>_ego"``, which L2 regularisation uses.
    Other keys of the batch are ignored.

    Args:
        num_users: number of user rows.
        num_items: number of item rows.
        embedding_dim: width ``d`` of every embedding.
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_users <= 0 or num_items <= 0 or embedding_dim <= 0:
            raise ValueError(
                f"num_users, num_items and embedding_dim must be positive, got "
                f"{num_users}, {num_items}, {embedding_dim}"
            )
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self.embedding_dim = int(embedding_dim)

    @classmethod
    def from_interactions(cls, train_csr: sp.spmatrix | sp.sparray, **kwargs) -> EmbeddingTower:
        """A tower sized for a ``U × I`` training matrix; ``kwargs`` go to the constructor.

        Towers that read the training graph (:class:`~tfdirectspec.towers.LightGCNTower`)
        override it to attach the graph too.
        """
        num_users, num_items = train_csr.shape
        return cls(num_users, num_items, **kwargs)

    def add_embedding_tables(self, seed: int | None) -> None:
        """Creates ``user_embeddings`` ``[U, d]`` and ``item_embeddings`` ``[I, d]``.

        Glorot-uniform (the authors' initialisation), the user table seeded with ``seed``
        and the item table with ``seed + 1`` (both unseeded when ``seed`` is None).
        """
        for side, rows, offset in (("user", self.num_users, 0), ("item", self.num_items, 1)):
            table = self.add_weight(
                name=f"{side}_embeddings",
                shape=(rows, self.embedding_dim),
                initializer=keras.initializers.GlorotUniform(
                    seed=None if seed is None else seed + offset
                ),
            )
            setattr(self, f"{side}_embeddings", table)

    def tables(self, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns ``(user_table, item_table)`` of shapes ``[U, d]`` and ``[I, d]``."""
        raise NotImplementedError

    def ego_tables(self) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns the layer-0 embedding tables (the trainable parameters)."""
        raise NotImplementedError

    def sparse_lookups(
        self, inputs: dict[str, tf.Tensor]
    ) -> list[tuple[keras.Variable, tf.Tensor]]:
        """The trainable tables a call on ``inputs`` reads row by row, with those rows' ids.

        Only tables whose gradient is sparse (an ``IndexedSlices`` of the batch's rows)
        are listed; a lazy optimiser brings these rows up to date before the step
        (:meth:`tfdirectspec.training.LazyAdam.catch_up_rows`). None by default:
        a tower whose output mixes every row (LightGCN) has dense gradients.
        """
        return []

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        users, items = self.tables(training=training)
        ego_users, ego_items = self.ego_tables()
        return _gather_batch(inputs, users, items, ego_users, ego_items)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_users=self.num_users,
            num_items=self.num_items,
            embedding_dim=self.embedding_dim,
        )
        return config


def _gather_batch(
    inputs: dict[str, tf.Tensor],
    users: tf.Tensor,
    items: tf.Tensor,
    ego_users: tf.Tensor,
    ego_items: tf.Tensor,
) -> dict[str, tf.Tensor]:
    """Gathers the rows of the batch's ids from output and ego tables."""
    out: dict[str, tf.Tensor] = {}
    for key in ID_KEYS:
        if key not in inputs:
            continue
        table, ego = (users, ego_users) if key == "user" else (items, ego_items)
        # int32 ids: the gathers' gradients are summed into the tables by a
        # segment sum, which runs about a third faster on CPU with int32 indices
        # (no table has 2^31 rows).
        ids = tf.cast(inputs[key], tf.int32)
        out[key] = tf.gather(table, ids)
        out[f"{key}_ego"] = out[key] if ego is table else tf.gather(ego, ids)
    return out
