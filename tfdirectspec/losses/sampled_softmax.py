"""In-batch sampled softmax (InfoNCE)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfdirectspec.losses.base import RetrievalLoss, register
from tfdirectspec.losses.distribute import gather_global, global_offset
from tfdirectspec.losses.hypersphere import normalize_rows
from tfdirectspec.parameters import check_positive


@register
class SampledSoftmaxLoss(RetrievalLoss):
    """Sampled softmax over the batch's items (SSM / InfoNCE).

    ``L = −(1/B) Σ_b log( exp(s(u_b, i_b)/t) / Σ_k exp(s(u_b, i_k)/t) )``

    where ``k`` runs over the items of the (global) batch and ``s`` is the
    cosine (``normalize=True``, the usual choice) or the raw dot product.

    Args:
        temperature: softmax temperature ``t`` > 0.
        normalize: score with cosines instead of raw dot products.

    Example:
        >>> import tensorflow as tf
        >>> rows = tf.eye(4)  # cosine 1 with the own item, 0 with the three others
        >>> loss = SampledSoftmaxLoss(temperature=1.0)
        >>> round(float(loss(tf.ones(4), {"user": rows, "item": rows})), 4)  # −log(e / (e + 3))
        0.7437
    """

    def __init__(self, temperature: float = 0.1, normalize: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.temperature = float(check_positive("temperature", temperature))
        self.normalize = bool(normalize)

    def per_example(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        users, items = outputs["user"], outputs["item"]
        if self.normalize:
            users, items = normalize_rows(users), normalize_rows(items)
        logits = tf.matmul(users, gather_global(items), transpose_b=True) / self.temperature
        local = tf.shape(users)[0]
        labels = global_offset(local) + tf.range(local)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
