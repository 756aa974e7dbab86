"""Matrix factorisation tower: one embedding table for users, one for items."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.towers.base import EmbeddingTower

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now


@keras.saving.register_keras_serializable(package="tfdirectspec")
class MFTower(EmbeddingTower):
    """Plain matrix factorisation: ``score(u, i) = e_u · e_i``.

    The output tables are the trainable tables themselves, initialised, as the
    DirectSpec authors do, Glorot-uniform with bound ``sqrt(6 / (n + d))`` where
    ``n`` is the table's number of rows.

    Args:
        num_users: number of users.
        num_items: number of items.
        embedding_dim: embedding width ``d`` (64 in the paper).
        seed: seed of the initialisers, for reproducible runs.

    Example:
        >>> tower = MFTower(num_users=100, num_items=50, embedding_dim=8, seed=0)
        >>> out = tower({"user": tf.constant([0, 1]), "item": tf.constant([3, 4])})
        >>> out["user"].shape
        TensorShape([2, 8])
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(num_users, num_items, embedding_dim, **kwargs)
        self.seed = seed
        self.add_embedding_tables(seed)

    def tables(self, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        return self.user_embeddings.value, self.item_embeddings.value

    def ego_tables(self) -> tuple[tf.Tensor, tf.Tensor]:
        return self.tables()

    def sparse_lookups(
        self, inputs: dict[str, tf.Tensor]
    ) -> list[tuple[keras.Variable, tf.Tensor]]:
        items = [inputs[key] for key in ("item", "negative") if key in inputs]
        return [
            (self.user_embeddings, tf.reshape(inputs["user"], [-1])),
            (self.item_embeddings, tf.concat([tf.reshape(i, [-1]) for i in items], axis=0)),
        ]

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        # Gathering from the tf.Variable under each Keras variable (`.value`) reads
        # only the batch's rows and keeps the gradients sparse (IndexedSlices).
        # Gathering from the Keras variable itself reads the whole table first, and
        # the optimizer's in-place update must then copy it (measured: 65 ms per
        # step at 1M rows × 64, against 0.8 ms).
        out: dict[str, tf.Tensor] = {}
        for key in ("user", "item", "negative"):
            if key in inputs:
                table = self.user_embeddings if key == "user" else self.item_embeddings
                out[key] = tf.gather(table.value, inputs[key])
                out[f"{key}_ego"] = out[key]
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(seed=self.seed)
        return config
