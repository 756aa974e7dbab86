"""Geometry of L2-normalised embeddings: the row normaliser, alignment and uniformity.

On unit rows ``x̂ = x / ‖x‖`` (Wang & Isola, 2020; DirectAU, Wang et al. 2022)::

    alignment(Û, Î)  = ‖û_b − î_b‖²  per pair b            (in [0, 4]; 0: pairs coincide)
    uniformity(X̂)   = log mean_{j≠k} exp(−2 ‖x̂_j − x̂_k‖²)  (in [−8, 0]; 0: complete collapse)

``‖x̂_j − x̂_k‖² = 2 − 2 x̂_j·x̂_k``, so uniformity needs only the ``m × m`` Gram of the rows,
and its log-sum-exp is the stable one (no overflow, no underflow to ``log 0``).
The DirectAU loss trains with these functions and the spectrum statistics
(:mod:`tfdirectspec.evaluation.spectrum`) report them: one definition for both.

Example:
    >>> import tensorflow as tf
    >>> x = normalize_rows(tf.constant([[2.0, 0.0], [-3.0, 0.0]]))
    >>> round(float(uniformity(x)), 4)  # antipodal rows: ‖x̂_0 − x̂_1‖² = 4
    -8.0
"""

from __future__ import annotations

import tensorflow as tf


def normalize_rows(x: tf.Tensor) -> tf.Tensor:
    """Scales every row to unit L2 norm (zero rows stay zero)."""
    return tf.math.l2_normalize(x, axis=-1, epsilon=1e-12)


def alignment(users: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
    """``‖û_b − î_b‖²`` for each row pair of two tables of unit rows (a ``[B]`` tensor)."""
    return tf.reduce_sum(tf.square(users - items), axis=-1)


def uniformity(x: tf.Tensor) -> tf.Tensor:
    """``log mean_{j≠k} exp(−2‖x_j − x_k‖²)`` over the distinct row pairs of unit rows ``x``.

    Needs at least two rows (one row has no pair: the result is ``nan``).
    """
    rows = tf.shape(x)[0]
    logits = -2.0 * (2.0 - 2.0 * tf.matmul(x, x, transpose_b=True))
    # Distinct pairs only: the diagonal (a row with itself) is left out.
    logits = tf.linalg.set_diag(logits, tf.fill([rows], tf.constant(-float("inf"), x.dtype)))
    pairs = tf.cast(rows * (rows - 1), x.dtype)
    return tf.reduce_logsumexp(logits) - tf.math.log(pairs)
