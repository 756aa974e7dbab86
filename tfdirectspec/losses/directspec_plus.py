"""DirectSpec+: the self-paced (softmax-weighted) all pass filter."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfdirectspec.losses.base import RetrievalLoss, register
from tfdirectspec.losses.directspec import _check, positive_pair_loss
from tfdirectspec.losses.distribute import gather_global
from tfdirectspec.losses.hypersphere import normalize_rows
from tfdirectspec.losses.spectral_filter import (
    grouped_softmax_all_pass,
    norm_shrink,
    softmax_all_pass,
)
from tfdirectspec.parameters import check_adaptive_tau, check_group_size, check_positive


@register
class DirectSpecPlusLoss(RetrievalLoss):
    """DirectSpec+ (the authors' released method).

    For the batch's normalised user rows ``Û`` and item rows ``Î`` (``B × d``)::

        X̃ = X − α · softmax_row(τ ⊙ X Xᵀ) · X     for X in {Û, Î}
        x̃ ← s · ‖x̃‖ · x̃                          (optional norm shrink)
        L  = −(1/B) Σ_b log σ(ũ_b · ĩ_b)  [+ reg · (‖ũ_b‖² + ‖ĩ_b‖²) / B]

    The softmax runs over the whole batch row, the row's own entry included,
    and gradients flow through the weights. With ``tau0`` and ``tau1`` set the
    temperature is adaptive: ``τ_jk = tau0`` when rows j and k share at least
    one training interaction (users: a common item; items: a common user; the
    diagonal counts as shared), ``tau1`` otherwise. The sampler provides those
    masks per batch as ``"user_shared"`` and ``"item_shared"`` (computed from
    the sparse interaction matrix, never from dense U×U or I×I matrices).

    With ``group_size = g > 0`` the batch is read as ``B / g`` consecutive blocks
    of ``g`` rows (users and items alike) and each block is filtered with its
    own ``g × g`` softmax, exactly as if it were a batch of ``g``; the loss is
    the mean over blocks. One step on ``B`` rows then equals ``B / g`` of the
    authors' batch-``g`` steps taken from the same parameters, with their
    gradients averaged (so scale the learning rate by ``B / g`` to match their
    per-row step). It costs ``O(B·g·d)`` instead of ``O(B²·d)``, which is what
    lets LightGCN share one graph propagation among many authors' batches.
    Under a ``tf.distribute`` strategy the blocks are taken within each
    replica's rows, so ``g`` must divide the per-replica batch.

    Args:
        alpha: filter strength α ≥ 0.
        tau: temperature τ > 0 (ignored when adaptive).
        shrink: norm shrink ``s`` ≥ 0 (0 = off).
        reg: L2 weight on the filtered rows.
        tau0: temperature of pairs that share an interaction (adaptive).
        tau1: temperature of the other pairs (adaptive); ``tau0 < tau1``.
        group_size: rows per softmax block (0 = the whole global batch); not
            combined with the adaptive temperature.

    Example:
        >>> import tensorflow as tf
        >>> rows = tf.eye(4)  # four orthogonal unit rows, each user paired with its item
        >>> loss = DirectSpecPlusLoss(alpha=1.0, tau=3.0)
        >>> round(float(loss(tf.ones(4), {"user": rows, "item": rows})), 4)
        0.682
        >>> grouped = DirectSpecPlusLoss(alpha=1.0, tau=3.0, group_size=2)  # two 2 × 2 blocks
        >>> round(float(grouped(tf.ones(4), {"user": rows, "item": rows})), 4)
        0.6909
        >>> DirectSpecPlusLoss(tau0=2.5, tau1=3.0).required_features  # adaptive τ: masks
        ('user_shared', 'item_shared')
    """

    def __init__(
        self,
        alpha: float = 1.0,
        tau: float = 3.0,
        shrink: float = 0.0,
        reg: float = 0.0,
        tau0: float | None = None,
        tau1: float | None = None,
        group_size: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check(alpha, shrink, reg)
        check_positive("tau", tau)
        check_adaptive_tau(tau0, tau1)
        check_group_size(group_size, adaptive=tau0 is not None)
        self.alpha = float(alpha)
        self.tau = float(tau)
        self.shrink = float(shrink)
        self.reg = float(reg)
        self.tau0 = None if tau0 is None else float(tau0)
        self.tau1 = None if tau1 is None else float(tau1)
        self.group_size = int(group_size)

    @property
    def adaptive(self) -> bool:
        return self.tau0 is not None

    @property
    def required_features(self) -> tuple[str, ...]:
        return ("user_shared", "item_shared") if self.adaptive else ()

    def filter(self, x: tf.Tensor, shared: tf.Tensor | None = None) -> tf.Tensor:
        """Filters this replica's rows ``x``: against the global batch, or per block."""
        x = normalize_rows(x)
        if self.alpha and self.group_size:
            x = grouped_softmax_all_pass(x, self.group_size, self.alpha, self.tau)
        elif self.alpha:
            tau: float | tf.Tensor = self.tau
            if self.adaptive:
                tau = tf.where(
                    tf.cast(shared, tf.bool),
                    tf.cast(self.tau0, x.dtype),
                    tf.cast(self.tau1, x.dtype),
                )
            x = softmax_all_pass(x, gather_global(x), self.alpha, tau)
        return norm_shrink(x, self.shrink)

    def per_example(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        users = self.filter(outputs["user"], outputs.get("user_shared"))
        items = self.filter(outputs["item"], outputs.get("item_shared"))
        return positive_pair_loss(users, items, self.reg)
