"""Base class of the retrieval losses."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.losses.distribute import global_sum

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now


class RetrievalLoss:
    """A loss over a batch of tower outputs.

    A loss reads the dict a tower returns (``"user"``, ``"item"``, optionally
    ``"negative"``, and the layer-0 rows ``"<key>_ego"``) plus any extra batch
    features it declares (e.g. the adaptive-τ masks ``"user_shared"``). It
    returns, in :meth:`per_example`, one value per local row such that
    ``sum over the global batch / B`` is the batch loss; terms that do not
    decompose over rows (e.g. uniformity) are spread evenly over the rows.
    This is what makes every loss exact under ``tf.distribute`` strategies.

    Calling the loss returns the scalar batch loss (on one replica: the mean).
    """

    #: Batch keys the sampler must provide besides "user" and "item".
    required_features: tuple[str, ...] = ()

    def per_example(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        raise NotImplementedError

    def __call__(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        values = self.per_example(outputs)
        batch = global_sum(tf.cast(tf.shape(values)[0], values.dtype))
        return tf.reduce_sum(values) / batch

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> RetrievalLoss:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def l2_penalty(*tensors: tf.Tensor) -> tf.Tensor:
    """Per-row squared L2 norm summed over the given [B, d] tensors."""
    return tf.add_n([tf.reduce_sum(tf.square(t), axis=-1) for t in tensors])


register = keras.saving.register_keras_serializable(package="tfdirectspec")
