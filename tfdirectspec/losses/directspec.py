"""DirectSpec: positive pairs on spectrum-balanced embeddings (linear all pass filter)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfdirectspec.losses.base import RetrievalLoss, l2_penalty, register
from tfdirectspec.losses.distribute import gather_global
from tfdirectspec.losses.hypersphere import normalize_rows
from tfdirectspec.losses.spectral_filter import linear_all_pass, norm_shrink
from tfdirectspec.parameters import check_non_negative


def _check(alpha: float, shrink: float, reg: float) -> None:
    for parameter, value in (("alpha", alpha), ("shrink", shrink), ("reg", reg)):
        check_non_negative(parameter, value)


def positive_pair_loss(users: tf.Tensor, items: tf.Tensor, reg: float) -> tf.Tensor:
    """``−log σ(ũ·ĩ) + reg · (‖ũ‖² + ‖ĩ‖²)`` per row."""
    values = -tf.math.log_sigmoid(tf.reduce_sum(users * items, axis=-1))
    if reg:
        values += reg * l2_penalty(users, items)
    return values


@register
class DirectSpecLoss(RetrievalLoss):
    """DirectSpec with the linear all pass filter (our reconstruction of the paper's base form).

    For the batch's normalised user rows ``Û`` and item rows ``Î`` (``B × d``)::

        X̃ = X − α · (1/B) · X Xᵀ X          for X in {Û, Î}  (σ → σ − α σ³ / B)
        x̃ ← s · ‖x̃‖ · x̃                     (optional norm shrink, s = 0 is off)
        L  = −(1/B) Σ_b log σ(ũ_b · ĩ_b)  [+ reg · (‖ũ_b‖² + ‖ĩ_b‖²) / B]

    No negatives. The authors' code ships only the softmax form
    (:class:`DirectSpecPlusLoss`); this linear form follows the paper's text.

    Args:
        alpha: filter strength α ≥ 0 (0 gives :class:`PositiveOnlyLoss`).
        shrink: norm shrink ``s`` ≥ 0 (0 = off).
        reg: L2 weight on the filtered rows (the authors' LightGCN script).

    Example:
        >>> import tensorflow as tf
        >>> rows = tf.eye(4)  # four orthogonal unit rows, each user paired with its item
        >>> loss = DirectSpecLoss(alpha=1.0)
        >>> round(float(loss(tf.ones(4), {"user": rows, "item": rows})), 4)  # −log σ((1 − 1/4)²)
        0.4509
    """

    def __init__(
        self, alpha: float = 1.0, shrink: float = 0.0, reg: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        _check(alpha, shrink, reg)
        self.alpha = float(alpha)
        self.shrink = float(shrink)
        self.reg = float(reg)

    def filter(self, x: tf.Tensor) -> tf.Tensor:
        """Filters this replica's rows ``x`` against the global batch."""
        x = normalize_rows(x)
        if self.alpha:
            x = linear_all_pass(x, gather_global(x), self.alpha)
        return norm_shrink(x, self.shrink)

    def per_example(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        users = self.filter(outputs["user"])
        items = self.filter(outputs["item"])
        return positive_pair_loss(users, items, self.reg)
