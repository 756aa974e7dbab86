"""Fold-in: a scoring vector for a user given only the items they touched (no retraining).

For a user with known items ``S`` (rows ``v_i`` of the item table ``V``, ``n = |S|``):

- ``"mean"`` (the default): the mean of the items' unit rows::

      u = (1/n) · Σ_{i ∈ S} v_i / ‖v_i‖

  DirectSpec, DirectSpec+ and DirectAU train on *normalised* rows: a user's part of the
  alignment term is ``Σ_{i ∈ S} û · v̂_i``, and on the unit sphere the ``û`` that
  maximises it is this mean, normalised. Scores ``u · v_j`` rank exactly as the
  normalised ``û`` does (a user's ranking does not depend on the length of ``u``).

- ``"ridge"``: the least-squares vector that gives each known item the score 1::

      u = (V_Sᵀ V_S + λ I)⁻¹ V_Sᵀ 1,    λ = l2 · mean_i ‖v_i‖²   (over all items)

  the user step of (implicit) ALS restricted to the positives; ``l2`` is relative to the
  items' mean squared norm, so it means the same for every model. As ``λ → ∞`` it
  tends to the direction of ``Σ_{i ∈ S} v_i`` (raw rows, long ones weigh more).

Rows are given padded: ``index [B, n]`` of item rows with ``known [B, n]`` marking the
real ones; a row without known items gets the zero vector.
"""

from __future__ import annotations

import tensorflow as tf

#: Fold-in methods, the default first.
FOLD_IN_METHODS = ("mean", "ridge")
#: Default ``l2`` of the ridge fold-in (relative to the items' mean squared norm).
DEFAULT_L2 = 1.0


def fold_in_vectors(
    item_table: tf.Tensor,
    index: tf.Tensor,
    known: tf.Tensor,
    method: str = "mean",
    l2: float = DEFAULT_L2,
) -> tf.Tensor:
    """``[B, d]`` user vectors folded in from padded rows of item indices.

    Args:
        item_table: ``[I, d]`` float32 item scoring vectors.
        index: ``[B, n]`` int64 item rows (any valid row where ``known`` is false).
        known: ``[B, n]`` bool, the entries that are real items of the user.
        method: ``"mean"`` or ``"ridge"`` (see the module doc).
        l2: the ridge's relative L2 weight (``> 0``).

    Example:
        >>> items = tf.constant([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> index = tf.constant([[0, 1], [2, 0]], tf.int64)
        >>> known = tf.constant([[True, True], [True, False]])  # user 2 knows item 2 only
        >>> fold_in_vectors(items, index, known).numpy().astype(float).round(3).tolist()
        [[0.5, 0.5], [0.707, 0.707]]
        >>> ridge = fold_in_vectors(items, index, known, "ridge", l2=1.0)  # λ = 7/3
        >>> ridge.numpy().astype(float).round(3).tolist()
        [[0.316, 0.3], [0.231, 0.231]]
    """
    if method not in FOLD_IN_METHODS:
        raise ValueError(f"fold-in method must be one of {FOLD_IN_METHODS}, got {method!r}")
    weight = tf.cast(known, tf.float32)
    rows = tf.gather(item_table, index) * weight[:, :, None]  # [B, n, d]
    if method == "mean":
        unit = tf.math.divide_no_nan(rows, tf.norm(rows, axis=-1, keepdims=True))
        count = tf.reduce_sum(weight, axis=1, keepdims=True)
        return tf.math.divide_no_nan(tf.reduce_sum(unit, axis=1), count)
    dim = tf.shape(item_table)[1]
    scale = tf.reduce_mean(tf.reduce_sum(tf.square(item_table), axis=1))
    gram = tf.einsum("bnd,bne->bde", rows, rows)
    eye = tf.eye(dim, dtype=tf.float32)[None]
    system = gram + float(l2) * scale * eye
    rhs = tf.reduce_sum(rows, axis=1)[:, :, None]  # V_Sᵀ 1
    return tf.linalg.solve(system, rhs)[:, :, 0]
