"""DirectAU: alignment and uniformity on the hypersphere."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfdirectspec.losses.base import RetrievalLoss, register
from tfdirectspec.losses.distribute import gather_global
from tfdirectspec.losses.hypersphere import alignment, normalize_rows, uniformity
from tfdirectspec.parameters import check_non_negative


@register
class DirectAULoss(RetrievalLoss):
    """DirectAU (Wang et al., KDD 2022) on normalised rows.

    ``L = mean_b ‖û_b − î_b‖² + γ · ½ (unif(Û) + unif(Î))``, with
    ``unif(X) = log mean_{j≠k} exp(−2‖x_j − x_k‖²)`` over distinct pairs of
    the (global) batch.

    Args:
        gamma: weight γ of the uniformity term (0.5–5 in the paper).

    Example:
        >>> import tensorflow as tf
        >>> rows = tf.eye(4)  # aligned pairs (0), all rows √2 apart: unif = log exp(−4)
        >>> loss = DirectAULoss(gamma=1.0)
        >>> round(float(loss(tf.ones(4), {"user": rows, "item": rows})), 4)
        -4.0
    """

    def __init__(self, gamma: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gamma = float(check_non_negative("gamma", gamma))

    def per_example(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        users = normalize_rows(outputs["user"])
        items = normalize_rows(outputs["item"])
        values = alignment(users, items)
        if self.gamma:
            unif = uniformity(gather_global(users)) + uniformity(gather_global(items))
            # The batch-level term is spread over the rows so that the global
            # sum of per-example values divided by B adds exactly γ·½·unif.
            values += 0.5 * self.gamma * unif * tf.ones_like(values)
        return values
