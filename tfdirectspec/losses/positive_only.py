"""Positive-only training: the collapse baseline."""

from __future__ import annotations

from typing import Any

from tfdirectspec.losses.base import register
from tfdirectspec.losses.directspec import DirectSpecLoss


@register
class PositiveOnlyLoss(DirectSpecLoss):
    """Observed pairs only, on normalised rows, with no filter and no negatives.

    ``L = −(1/B) Σ_b log σ(s²·û_b · î_b)`` (``s`` the optional norm shrink, 1 when
    off). This is DirectSpec with α = 0: a pure low pass filter that drives all
    embeddings toward one direction (complete collapse, effective rank → 1).

    Args:
        shrink: norm shrink ``s`` ≥ 0 (0 = off), as in the authors' recipe.
        reg: L2 weight on the rows.

    Example:
        >>> import tensorflow as tf
        >>> rows = tf.eye(4)  # four orthogonal unit rows, each user paired with its item
        >>> loss = PositiveOnlyLoss()
        >>> round(float(loss(tf.ones(4), {"user": rows, "item": rows})), 4)  # −log σ(1)
        0.3133
    """

    def __init__(self, shrink: float = 0.0, reg: float = 0.0, **kwargs: Any) -> None:
        super().__init__(alpha=0.0, shrink=shrink, reg=reg, **kwargs)
