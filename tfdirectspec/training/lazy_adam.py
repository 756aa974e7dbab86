"""``LazyAdam``: Adam that updates only the embedding rows a batch touched.

Keras 3's Adam updates every row of a table at every step
(``m += (g − m)(1 − β₁)`` turns the sparse ``IndexedSlices`` gradient of an
embedding lookup into a dense ``rows × d`` tensor), so one step costs
O((users + items)·d) and an epoch O(pairs · (users + items)·d): quadratic in
the data size. ``LazyAdam`` applies Adam's formulas to the rows in the batch
only (as ``tf.compat.v1``'s and TF Addons' LazyAdam did), so a step costs
O(B·d) whatever the catalog size. For the rows ``r`` of a sparse gradient
``g`` (duplicates summed first)::

    m[r] ← β₁·m[r] + (1 − β₁)·g[r]
    v[r] ← β₂·v[r] + (1 − β₂)·g[r]²
    w[r] ← w[r] − lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m[r] / (√v[r] + ε)

Rows outside the batch keep their moments (dense Adam would decay them and
still move the weights with the decayed momentum); dense gradients (towers
whose gradient is dense, such as LightGCN's propagation) get exactly Keras'
Adam update.

Args: those of :class:`keras.optimizers.Adam` (``amsgrad`` is not supported).

Example:
    >>> import numpy as np, tensorflow as tf
    >>> table = tf.Variable(np.ones((4, 2), np.float32))
    >>> grad = tf.IndexedSlices(tf.ones((2, 2)), tf.constant([1, 1]), tf.constant([4, 2]))
    >>> _ = LazyAdam(learning_rate=0.1).apply_gradients([(grad, table)])
    >>> table.numpy().astype(float).round(3).tolist()  # only row 1 moved, by lr on step 1
    [[1.0, 1.0], [0.9, 0.9], [1.0, 1.0], [1.0, 1.0]]
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfdirectspec")
class LazyAdam(keras.optimizers.Adam):
    """Adam whose sparse (embedding) updates touch only the rows in the batch."""

    def __init__(self, *args, amsgrad: bool = False, **kwargs) -> None:
        if amsgrad:
            raise ValueError("LazyAdam does not support amsgrad")
        super().__init__(*args, amsgrad=False, **kwargs)

    def update_step(self, gradient, variable, learning_rate) -> None:
        if not isinstance(gradient, tf.IndexedSlices):
            super().update_step(gradient, variable, learning_rate)
            return
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        # A row drawn twice in a batch has one summed gradient, as in dense Adam.
        rows, position = tf.unique(gradient.indices)
        grad = tf.math.unsorted_segment_sum(
            tf.cast(gradient.values, dtype), position, tf.size(rows)
        )
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        # `.value` is the tf.Variable: gathering from it reads only the rows.
        m_rows = beta_1 * tf.gather(m.value, rows) + (1 - beta_1) * grad
        v_rows = beta_2 * tf.gather(v.value, rows) + (1 - beta_2) * tf.square(grad)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        step_rows = alpha * m_rows / (tf.sqrt(v_rows) + tf.cast(self.epsilon, dtype))
        self.assign_sub(variable, tf.IndexedSlices(step_rows, rows))
