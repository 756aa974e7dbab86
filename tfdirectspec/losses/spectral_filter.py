"""The all pass filters of DirectSpec and DirectSpec+, shared by their losses.

For a batch of ``B`` row-normalised embeddings ``X`` (users or items):

* linear (DirectSpec):        ``X̃ = X − α · (1/B) · X Xᵀ X``, i.e. ``σ → σ − (α/B) σ³``;
* softmax (DirectSpec+):      ``X̃ = X − α · softmax_row(τ ⊙ X Xᵀ) · X``,
  with ``τ`` a scalar or a ``B × B`` matrix (adaptive temperature);
* grouped softmax (DirectSpec+ with ``group_size g``): the softmax filter applied
  within each block of ``g`` consecutive rows, as if each block were a batch;
* norm shrink (optional):     ``x̃ ← s · ‖x̃‖ · x̃`` for every row (``s = 0`` is off).

Each replica filters its local rows against the global batch ``X_global``.
"""

from __future__ import annotations

import tensorflow as tf


def linear_all_pass(x: tf.Tensor, x_global: tf.Tensor, alpha: float) -> tf.Tensor:
    """DirectSpec's filter ``x − α/B · x (X_gᵀ X_g)``; uses the d×d Gram, not the B×B one."""
    batch = tf.cast(tf.shape(x_global)[0], x.dtype)
    gram = tf.matmul(x_global, x_global, transpose_a=True)
    return x - (alpha / batch) * tf.matmul(x, gram)


def softmax_all_pass(
    x: tf.Tensor, x_global: tf.Tensor, alpha: float, tau: float | tf.Tensor
) -> tf.Tensor:
    """DirectSpec+'s filter ``x − α · softmax(τ · x X_gᵀ) X_g``.

    ``tf.nn.softmax`` subtracts the row maximum (log-sum-exp), so large ``τ``
    cannot overflow in float32.
    """
    logits = tau * tf.matmul(x, x_global, transpose_b=True)
    weights = tf.nn.softmax(logits, axis=-1)
    return x - alpha * tf.matmul(weights, x_global)


def grouped_softmax_all_pass(x: tf.Tensor, group_size: int, alpha: float, tau: float) -> tf.Tensor:
    """DirectSpec+'s filter within each block of ``group_size`` consecutive rows.

    ``x`` (``[n·g, d]``) is viewed as ``n`` blocks ``X_b`` of ``g`` rows and each is
    filtered on its own, ``X_b − α · softmax(τ · X_b X_bᵀ) X_b``: ``n`` products of
    ``g × g`` instead of one of ``n·g × n·g``. The row count must be a multiple
    of ``group_size``.
    """
    dim = x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]
    groups = tf.reshape(x, [-1, group_size, dim])
    weights = tf.nn.softmax(tau * tf.matmul(groups, groups, transpose_b=True), axis=-1)
    return tf.reshape(groups - alpha * tf.matmul(weights, groups), tf.shape(x))


def norm_shrink(x: tf.Tensor, shrink: float) -> tf.Tensor:
    """``s · ‖x‖ · x`` per row; identity when ``shrink == 0``."""
    if shrink == 0:
        return x
    return shrink * tf.norm(x, axis=-1, keepdims=True) * x
