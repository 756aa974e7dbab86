"""The EASE^R model of a run: its items × items matrix, kept as a Keras weight."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfdirectspec.errors import InputError


@keras.saving.register_keras_serializable(package="tfdirectspec")
class EaseModel(keras.Model):
    """EASE^R's ``Bᵀ`` (:mod:`tfdirectspec.baselines.ease`) as a Keras model.

    ``model(x)`` maps dense interaction rows ``x`` ``[n, I]`` to their scores ``x · B``
    ``[n, I]``. Ranking a whole catalog goes through
    :func:`~tfdirectspec.evaluation.full_ranking_metrics` with the sparse interaction
    matrix as the user table and :attr:`item_table` (``Bᵀ``) as the item table, one block
    of users at a time. The model has no embedding tables: :meth:`tables` refuses, so
    ``export`` and ``spectrum`` (which serve and analyse factor models) say so in one line.

    Args:
        num_items: the catalog size ``I``.
        reg: the λ it was fit with (recorded in the config).
        item_table: ``Bᵀ`` ``[I, I]`` (default zeros: filled by loading weights).

    Example:
        >>> model = EaseModel(3, reg=1.0, item_table=np.eye(3, dtype=np.float32))
        >>> model(np.array([[1.0, 0.0, 1.0]], np.float32)).numpy().tolist()
        [[1.0, 0.0, 1.0]]
    """

    def __init__(
        self, num_items: int, reg: float = 1.0, item_table: np.ndarray | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.num_items, self.reg = int(num_items), float(reg)
        self.b_transposed = self.add_weight(
            name="b_transposed",
            shape=(self.num_items, self.num_items),
            initializer="zeros",
            trainable=False,
        )
        if item_table is not None:
            self.b_transposed.assign(item_table)
        self.built = True

    @property
    def item_table(self) -> tf.Tensor:
        """``Bᵀ``: row ``i`` scores item ``i`` against a user's interaction row."""
        return self.b_transposed.value

    def call(self, inputs, training: bool = False):
        return tf.matmul(tf.cast(inputs, tf.float32), self.b_transposed.value, transpose_b=True)

    def tables(self):
        raise InputError(
            "loss ease has no embedding tables (its model is an items × items matrix): "
            "export and spectrum apply to factor models (mf, lightgcn, ials)"
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_items=self.num_items, reg=self.reg)
        return config
