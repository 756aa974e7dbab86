"""The EASE^R model of a run: its items × items matrix ``B``, kept as a Keras weight."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.errors import InputError

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now


@keras.saving.register_keras_serializable(package="tfdirectspec")
class EaseModel(keras.Model):
    """EASE^R's ``B`` (:mod:`tfdirectspec.baselines.ease`) as a Keras model.

    ``model(x)`` maps dense interaction rows ``x`` ``[n, I]`` to their scores ``x · B``
    ``[n, I]``. Ranking a whole catalog goes through
    :func:`~tfdirectspec.evaluation.full_ranking_metrics` with the sparse interaction
    matrix as the user table and ``Bᵀ`` (:attr:`item_table`) as the item table, one block
    of users at a time. The model has no embedding tables: :meth:`tables` refuses, so
    ``export`` and ``spectrum`` (which serve and analyse factor models) say so in one line.

    Args:
        num_items: the catalog size ``I``.
        reg: the λ it was fit with (recorded in the config).
        weights: ``B`` ``[I, I]`` (default zeros: filled by loading weights). The variable
            is created from it directly, so the model costs one more ``I²`` copy, not two.

    Example:
        >>> model = EaseModel(3, reg=1.0, weights=np.eye(3, dtype=np.float32))
        >>> model(np.array([[1.0, 0.0, 1.0]], np.float32)).numpy().tolist()
        [[1.0, 0.0, 1.0]]
    """

    def __init__(
        self, num_items: int, reg: float = 1.0, weights: np.ndarray | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.num_items, self.reg = int(num_items), float(reg)
        initializer = "zeros"
        if weights is not None:
            initializer = lambda shape, dtype=None: weights  # noqa: E731
        self.b = self.add_weight(
            name="b", shape=(self.num_items, self.num_items), initializer=initializer,
            trainable=False,
        )  # fmt: skip
        self.built = True

    @property
    def item_table(self) -> np.ndarray:
        """``Bᵀ`` as a NumPy view of ``B`` (row ``i`` scores item ``i``)."""
        return self.b.numpy().T

    def call(self, inputs, training: bool = False):
        return tf.matmul(tf.cast(inputs, tf.float32), self.b.value)

    def tables(self):
        raise InputError(
            "loss ease has no embedding tables (its model is an items × items matrix): "
            "export and spectrum apply to factor models (mf, lightgcn, ials)"
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_items=self.num_items, reg=self.reg)
        return config
