"""``LazyAdam``: Adam whose step touches only the embedding rows of the batch.

Keras 3's Adam updates every row of a table at every step
(``m += (g − m)(1 − β₁)`` turns the sparse ``IndexedSlices`` gradient of an
embedding lookup into a dense ``rows × d`` tensor), so one step costs
O((users + items)·d) and an epoch O(pairs · (users + items)·d): quadratic in
the data size. ``LazyAdam`` touches the batch's rows only, so a step costs
O(B·d) whatever the catalog size.

With ``catch_up=True`` (the default) it follows dense Adam's trajectory. A row
that dense Adam sees with a zero gradient for ``k`` steps still moves, on its
decaying momentum, by ``Σⱼ αₛ₊ⱼ·β₁ʲ·m / (β₂^{j/2}·√v + ε)`` (``s`` its last
step) while its moments decay by ``β₁ᵏ`` and ``β₂ᵏ``. ``LazyAdam`` records the
step at which each row was last brought up to date and applies that move before
a step reads the row (:class:`~tfdirectspec.models.RetrievalModel` calls
:meth:`LazyAdam.catch_up_rows` on the batch's rows; other loops get it in the row's
next update, after its gradient), and :meth:`LazyAdam.catch_up` brings every row up
to date (at each epoch end, through :class:`LazyAdamCatchUp`)::

    r = β₁ / √β₂,   αₜ = lrₜ·√(1 − β₂ᵗ)/(1 − β₁ᵗ)
    w[r] ← w[r] − (Σ_{j=1..k} αₛ₊ⱼ·rʲ)·m[r] / (√v[r] + ε)     (the k missed steps)
    m[r] ← β₁ᵏ·m[r],   v[r] ← β₂ᵏ·v[r]
    then Adam's step with the batch's gradient parts g₁[r], g₂[r], … (a row drawn
    more than once has several; Keras' Adam squares an ``IndexedSlices`` part by part):
    m[r] ← β₁·m[r] + (1 − β₁)·Σᵢ gᵢ[r],   v[r] ← β₂·v[r] + (1 − β₂)·Σᵢ gᵢ[r]²
    w[r] ← w[r] − αₜ·m[r] / (√v[r] + ε)

The sum's first ``MISSED_EXACT`` terms are exact; the rest (weight below 10⁻³)
share one α. It takes ε outside the decay and the learning rate of the current
step (a schedule changes it once an epoch), so it equals dense Adam where ε is
small against √v (``tests/test_training_lazy_adam.py`` checks it from step 0); on a
1M-pair log the tables differ from dense Adam's by 0.24 % after 500 steps. Why it
matters: the classic lazy Adam (``catch_up=False``, TF Addons' semantics) moves
a row by about one ``lr`` per appearance, against about ``Σ rʲ ≈ 9`` times
more for dense Adam, and smooths its momentum across appearances hundreds of
steps apart. With the DirectSpec+ default recipe on a 1M-pair synthetic log,
one epoch of classic lazy Adam reaches an eighth of dense Adam's test NDCG@20
(0.0025 against 0.0205; ``pipelines/benchmarks/bench_lazy_adam.py``, figures in docs/scale.md).

Dense gradients (towers whose gradient is dense, such as LightGCN's
propagation) get exactly Keras' Adam update.

Args:
    catch_up: follow dense Adam (True) or the classic lazy semantics (False).
    the rest: those of :class:`keras.optimizers.Adam` (``amsgrad`` is not supported).

Example:
    >>> import numpy as np, tensorflow as tf
    >>> table = tf.Variable(np.ones((4, 2), np.float32))
    >>> grad = tf.IndexedSlices(tf.ones((1, 2)), tf.constant([1]), tf.constant([4, 2]))
    >>> _ = LazyAdam(learning_rate=0.1).apply_gradients([(grad, table)])
    >>> table.numpy().astype(float).round(3).tolist()  # only row 1 moved, by lr on step 1
    [[1.0, 1.0], [0.9, 0.9], [1.0, 1.0], [1.0, 1.0]]
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now

#: Rows brought up to date at a time by :meth:`LazyAdam.catch_up` (bounds its memory).
CATCH_UP_ROWS = 1 << 16
#: Missed steps whose own α is summed; later ones (weight r^j < 10⁻³) share one α.
MISSED_EXACT = 64


@keras.saving.register_keras_serializable(package="tfdirectspec")
class LazyAdam(keras.optimizers.Adam):
    """Adam whose sparse (embedding) updates touch only the rows in the batch."""

    def __init__(self, *args, amsgrad: bool = False, catch_up: bool = True, **kwargs) -> None:
        if amsgrad:
            raise ValueError("LazyAdam does not support amsgrad")
        super().__init__(*args, amsgrad=False, **kwargs)
        self.catch_up_moves = bool(catch_up)

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        # The step after which each row's weights and moments are up to date.
        self._last_steps = [
            self.add_variable(
                shape=(int(v.shape[0]) if len(v.shape) else 1,),
                dtype="int64",
                name=f"{v.name.replace('/', '_')}_last_step",
            )
            for v in var_list
        ]

    def _decay(self, dtype):
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        return beta_1, beta_2, beta_1 / tf.sqrt(beta_2)

    def _alpha(self, learning_rate, step, dtype):
        beta_1, beta_2, _ = self._decay(dtype)
        lr = tf.cast(learning_rate, dtype)
        return lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))

    def _missed(self, m_rows, v_rows, last, missed, learning_rate, dtype):
        """Weights' move, and the decayed moments, over the ``missed`` zero-gradient steps
        after step ``last`` of each row."""
        beta_1, beta_2, r = self._decay(dtype)
        k = tf.cast(missed, dtype)[:, None]
        # Dense Adam's α changes over the missed steps (its bias correction); their
        # weight r^j is below 10⁻³ after MISSED_EXACT steps, which are summed exactly.
        j = tf.range(1, MISSED_EXACT + 1, dtype=dtype)[None, :]
        steps = tf.cast(last, dtype)[:, None] + j
        head = tf.where(j <= k, self._alpha(learning_rate, steps, dtype) * tf.pow(r, j), 0.0)
        tail_alpha = self._alpha(learning_rate, steps[:, -1:] + 1, dtype)
        tail = tail_alpha * (tf.pow(r, MISSED_EXACT + 1.0) - tf.pow(r, k + 1)) / (1 - r)
        weight = tf.reduce_sum(head, axis=1, keepdims=True) + tf.where(k > MISSED_EXACT, tail, 0.0)
        moved = weight * m_rows / (tf.sqrt(v_rows) + tf.cast(self.epsilon, dtype))
        return moved, tf.pow(beta_1, k) * m_rows, tf.pow(beta_2, k) * v_rows

    def update_step(self, gradient, variable, learning_rate) -> None:
        index = self._get_variable_index(variable)
        last = self._last_steps[index]
        if not isinstance(gradient, tf.IndexedSlices):
            super().update_step(gradient, variable, learning_rate)
            if self.catch_up_moves:  # every row is up to date after a dense step
                self.assign(last, tf.fill(tf.shape(last), self.iterations + 1))
            return
        dtype = variable.dtype
        beta_1, beta_2, _ = self._decay(dtype)
        step = tf.cast(self.iterations + 1, dtype)
        alpha = self._alpha(learning_rate, step, dtype)
        # A row drawn twice in a batch gets the sum of its gradients in m and the sum
        # of their squares in v: Keras' Adam squares an IndexedSlices part by part.
        rows, position = tf.unique(gradient.indices)
        values = tf.cast(gradient.values, dtype)
        grad = tf.math.unsorted_segment_sum(values, position, tf.size(rows))
        grad_sq = tf.math.unsorted_segment_sum(tf.square(values), position, tf.size(rows))
        m, v = self._momentums[index], self._velocities[index]
        # `.value` is the tf.Variable: gathering from it reads only the rows.
        m_rows, v_rows = tf.gather(m.value, rows), tf.gather(v.value, rows)
        moved = 0.0
        if self.catch_up_moves:
            last_rows = tf.gather(last.value, rows)
            moved, m_rows, v_rows = self._missed(
                m_rows, v_rows, last_rows, self.iterations - last_rows, learning_rate, dtype
            )
            self.assign(last, tf.IndexedSlices(tf.fill(tf.shape(rows), self.iterations + 1), rows))
        m_rows = beta_1 * m_rows + (1 - beta_1) * grad
        v_rows = beta_2 * v_rows + (1 - beta_2) * grad_sq
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        step_rows = alpha * m_rows / (tf.sqrt(v_rows) + tf.cast(self.epsilon, dtype))
        self.assign_sub(variable, tf.IndexedSlices(moved + step_rows, rows))

    def catch_up_rows(self, variable, ids) -> None:
        """Brings the rows ``ids`` of ``variable`` up to date (before a step reads them).

        Without it a row's missed moves are applied in its next update, after the
        gradient was taken at its stale value; :class:`~tfdirectspec.models.RetrievalModel`
        calls it for the rows each batch reads, so the step follows dense Adam exactly.
        """
        if not self.built or not self.catch_up_moves:
            return
        rows, _ = tf.unique(tf.cast(ids, tf.int64))
        self._bring_up_to_date(variable, rows, self.iterations.value)

    def _bring_up_to_date(self, variable, rows, steps) -> None:
        """Applies the missed moves of ``rows`` up to step ``steps`` and records it."""
        index = self._get_variable_index(variable)
        m, v, last = self._momentums[index], self._velocities[index], self._last_steps[index]
        last_rows = tf.gather(last.value, rows)
        m_rows, v_rows = tf.gather(m.value, rows), tf.gather(v.value, rows)
        moved, m_rows, v_rows = self._missed(
            m_rows,
            v_rows,
            last_rows,
            steps - last_rows,
            self._get_current_learning_rate(),
            variable.dtype,
        )
        variable.value.scatter_sub(tf.IndexedSlices(moved, rows))
        m.value.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.value.scatter_update(tf.IndexedSlices(v_rows, rows))
        last.value.scatter_update(tf.IndexedSlices(tf.fill(tf.shape(rows), steps), rows))

    def catch_up(self) -> None:
        """Brings every row up to date: applies the moves of the steps it missed.

        Call it before reading the weights (evaluation, export); :class:`LazyAdamCatchUp`
        does at each epoch end. It costs O(rows·d), in blocks of ``CATCH_UP_ROWS`` rows;
        rows already up to date do not move.
        """
        if not self.built or not self.catch_up_moves:
            return
        steps = self.iterations.value
        for variable in self._trainable_variables:
            if len(variable.shape) != 2:
                continue  # only embedding tables get sparse gradients
            num_rows = int(variable.shape[0])
            for start in range(0, num_rows, CATCH_UP_ROWS):
                rows = tf.range(start, min(start + CATCH_UP_ROWS, num_rows), dtype=tf.int64)
                self._bring_up_to_date(variable, rows, steps)

    def get_config(self) -> dict:
        return {**super().get_config(), "catch_up": self.catch_up_moves}


class LazyAdamCatchUp(keras.callbacks.Callback):
    """Brings a :class:`LazyAdam`'s rows up to date at each epoch end and at the end of training.

    Put it first in the callback list, so that evaluation, checkpoints and
    exports by later callbacks read the weights dense Adam would have. Does
    nothing for another optimiser.

    Example:
        >>> callback = LazyAdamCatchUp()  # model.fit(..., callbacks=[callback, ...])
    """

    def _catch_up(self) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if isinstance(optimizer, LazyAdam):
            optimizer.catch_up()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._catch_up()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._catch_up()
