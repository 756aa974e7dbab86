"""The iALS objective on a batch: what an MF tower holding iALS factors was trained for."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfdirectspec.losses.base import RetrievalLoss, l2_penalty, register
from tfdirectspec.parameters import check_non_negative


@register
class IALSLoss(RetrievalLoss):
    """A batch estimate of the iALS objective (:mod:`tfdirectspec.baselines.ials`).

    For the batch's ``B`` observed pairs with scores ``s_b = u_b · i_b``:

    ``L = (1/B) Σ_b [(1 + α)(1 − s_b)² − s_b² + reg (‖u_b‖² + ‖i_b‖²)]
    + (1/B) ⟨U_bᵀ U_b, I_bᵀ I_b⟩``

    the second term estimating the all-pairs term ``Σ_{u,i} s_ui²`` from the batch's rows.
    ``tfdirectspec train --loss ials`` does not use it (the alternating least-squares solves
    of ``implicit`` do the fit); it is the loss of the MF model the run saves, so that the
    model names what it optimises and can be fine-tuned with ``fit``.

    Args:
        alpha: the confidence weight α (``c = 1 + α`` on observed pairs).
        reg: the L2 weight λ.

    Example:
        >>> rows, labels = tf.zeros([2, 3]), tf.ones(2)
        >>> float(IALSLoss(alpha=1.0, reg=0.0)(labels, {"user": rows, "item": rows}))  # (1 + α)·1
        2.0
    """

    def __init__(self, alpha: float = 10.0, reg: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = float(check_non_negative("alpha", alpha))
        self.reg = float(check_non_negative("reg", reg))

    def per_example(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        users, items = outputs["user"], outputs["item"]
        s = tf.reduce_sum(users * items, axis=-1)
        values = (1.0 + self.alpha) * tf.square(1.0 - s) - tf.square(s)
        gramian = tf.reduce_sum(
            tf.matmul(users, users, transpose_a=True) * tf.matmul(items, items, transpose_a=True)
        )
        values += gramian / tf.cast(tf.shape(s)[0], s.dtype)
        if self.reg:
            ego = [outputs.get(f"{k}_ego", outputs[k]) for k in ("user", "item")]
            values += self.reg * l2_penalty(*ego)
        return values
