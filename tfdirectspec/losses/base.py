"""Base class of the retrieval losses: a ``keras.losses.Loss`` over a batch of tower rows."""

from __future__ import annotations

import inspect
import re
from typing import Any

import keras
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.losses.distribute import global_sum

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now

register = keras.saving.register_keras_serializable(package="tfdirectspec")


def as_rows(y_pred: Any) -> dict[str, tf.Tensor]:
    """The named rows of a batch: a tower's dict as it is, or a stacked ``[B, k, d]`` tensor.

    A plain Keras model has one output, so it stacks its rows along axis 1: the user row,
    the positive item row and, for losses that need one, a negative item row
    (``keras.ops.stack([user, item], axis=1)``).

    Example:
        >>> rows = as_rows(tf.zeros([4, 3, 8]))
        >>> sorted(rows), tuple(rows["negative"].shape)
        (['item', 'negative', 'user'], (4, 8))
    """
    if isinstance(y_pred, dict):
        return y_pred
    y_pred = tf.convert_to_tensor(y_pred)
    if y_pred.shape.rank != 3 or y_pred.shape[1] not in (2, 3):
        raise ValueError(
            "y_pred must be a dict of rows or a [batch, 2 or 3, dim] stack of (user, item"
            f"[, negative]) rows; got shape {y_pred.shape}"
        )
    rows = {"user": y_pred[:, 0], "item": y_pred[:, 1]}
    if y_pred.shape[1] == 3:
        rows["negative"] = y_pred[:, 2]
    return rows


class RetrievalLoss(keras.losses.Loss):
    """A loss over a batch of (user, positive item) rows, usable in ``compile(loss=...)``.

    ``y_pred`` is the batch's rows: the dict a tower returns (``"user"``, ``"item"``,
    optionally ``"negative"``, the layer-0 rows ``"<key>_ego"`` and extra batch features
    the loss declares in :attr:`required_features`, e.g. the adaptive-τ masks), or, from a
    plain Keras model, a ``[B, 2 or 3, d]`` stack of them (:func:`as_rows`). ``y_true`` is
    the pairs' labels, 1 for every observed pair: the rows are the labels, so it is not
    read (the sampler's dataset yields ones).

    A subclass writes :meth:`per_example`: one value per local row such that the sum over
    the global batch divided by its size ``B`` is the batch loss (terms that do not
    decompose over rows, e.g. uniformity, are spread evenly over the rows). :meth:`call`
    divides those values by the *global* batch size and the reduction is ``"sum"``, so
    under a ``tf.distribute`` strategy each replica's loss is its share of the global
    batch's and Keras' sum of replica gradients is exactly the one-device gradient, even
    when replicas hold unequal row counts (Keras' ``"sum_over_batch_size"`` divides by
    the local size times the replica count, which assumes equal shards).

    Args:
        name: the loss's name (default: the class name in snake case).
        reduction: Keras' reduction of :meth:`call`'s values; ``"sum"`` gives the mean.
        dtype: the dtype the rows are cast to (default ``keras.config.floatx()``).
    """

    #: Batch keys the sampler must provide besides "user" and "item".
    required_features: tuple[str, ...] = ()

    def __init__(
        self, name: str | None = None, reduction: str = "sum", dtype: str | None = None
    ) -> None:
        super().__init__(name=name or _snake(type(self).__name__), reduction=reduction, dtype=dtype)

    def per_example(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        raise NotImplementedError

    def call(self, y_true: Any, y_pred: Any) -> tf.Tensor:
        values = self.per_example(as_rows(y_pred))
        return values / global_sum(tf.cast(tf.shape(values)[0], values.dtype))

    def hyperparameters(self) -> dict[str, Any]:
        """The loss's own arguments and their values: its ``__init__`` signature.

        Each argument is stored as the attribute of the same name, so the signature is
        the one declaration of a hyper-parameter (:meth:`get_config`, ``repr`` and the
        training config's fields are read from it).
        """
        return {name: getattr(self, name) for name in hyperparameter_names(type(self))}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.hyperparameters()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


def hyperparameter_names(cls: type) -> list[str]:
    """The arguments of a loss class's ``__init__`` besides Keras' (name, reduction, dtype).

    Example:
        >>> class Margin(RetrievalLoss):
        ...     def __init__(self, margin: float = 1.0, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.margin = margin
        >>> hyperparameter_names(Margin), Margin(0.5).get_config()["margin"]
        (['margin'], 0.5)
    """
    parameters = inspect.signature(cls.__init__).parameters.values()
    return [
        p.name
        for p in parameters
        if p.name != "self"
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        and p.name not in _KERAS_ARGUMENTS
    ]


_KERAS_ARGUMENTS = ("name", "reduction", "dtype")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


def l2_penalty(*tensors: tf.Tensor) -> tf.Tensor:
    """Per-row squared L2 norm summed over the given [B, d] tensors."""
    return tf.add_n([tf.reduce_sum(tf.square(t), axis=-1) for t in tensors])
