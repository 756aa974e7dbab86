"""Bayesian personalised ranking with one sampled negative per positive."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfdirectspec.losses.base import RetrievalLoss, l2_penalty, register
from tfdirectspec.parameters import check_non_negative


@register
class BPRLoss(RetrievalLoss):
    """BPR (Rendle et al., 2009) with LightGCN's regularisation convention.

    ``L = −(1/B) Σ_b log σ(u_b·i_b − u_b·j_b) + reg · ½ (‖e_u‖² + ‖e_i‖² + ‖e_j‖²) / B``

    where ``j`` is a uniform negative (not a known positive of ``u``), and the
    ``e`` are the batch's layer-0 embeddings (for MF the same rows).

    Args:
        reg: L2 weight (1e-4 in LightGCN).

    Example:
        >>> import tensorflow as tf
        >>> rows = tf.eye(2)
        >>> batch = {"user": rows, "item": rows, "negative": rows[::-1]}  # margins of 1
        >>> round(float(BPRLoss(reg=0.0)(tf.ones(2), batch)), 4)  # −log σ(1)
        0.3133
        >>> round(float(BPRLoss(reg=0.1)(tf.ones(2), batch)), 4)  # + 0.1 · ½ · 3 (ego: the rows)
        0.4633
    """

    required_features = ("negative",)

    def __init__(self, reg: float = 1e-4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reg = float(check_non_negative("reg", reg))

    def per_example(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        users, items, negatives = outputs["user"], outputs["item"], outputs["negative"]
        margin = tf.reduce_sum(users * (items - negatives), axis=-1)
        values = -tf.math.log_sigmoid(margin)
        if self.reg:
            ego = [outputs.get(f"{k}_ego", outputs[k]) for k in ("user", "item", "negative")]
            values += 0.5 * self.reg * l2_penalty(*ego)
        return values
