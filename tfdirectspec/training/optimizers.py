"""Optimisers: the DirectSpec authors' recipe (plain SGD, per-epoch decay), Adam and LazyAdam."""

from __future__ import annotations

import keras

from tfdirectspec.backend import require_tensorflow_backend

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now


def make_optimizer(
    name: str, lr: float, steps_per_epoch: int, lr_decay: float = 1.0
) -> keras.optimizers.Optimizer:
    """Builds the optimiser of a run.

    The learning rate is ``lr · lr_decay ** epoch`` (a staircase exponential
    decay stepped once per epoch of ``steps_per_epoch`` batches); the authors
    use SGD with ``lr_decay`` 0.9995 (MF) or 0.9999 (LightGCN). Their huge
    learning rates (e.g. 180) work because DirectSpec's loss only sees
    normalised rows.

    Args:
        name: ``"sgd"``, ``"adam"`` (Keras' Adam: every table row is updated at every
            step) or ``"lazy-adam"`` (:class:`~tfdirectspec.training.lazy_adam.LazyAdam`:
            Adam's trajectory, touching only the batch's rows, so a step's cost does not
            grow with the catalog).
        lr: initial learning rate.
        steps_per_epoch: batches per epoch.
        lr_decay: per-epoch multiplicative decay (1 = constant).

    Example:
        >>> opt = make_optimizer("sgd", 180.0, steps_per_epoch=648, lr_decay=0.9995)
    """
    schedule: float | keras.optimizers.schedules.LearningRateSchedule = lr
    if lr_decay != 1.0:
        schedule = keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=steps_per_epoch, decay_rate=lr_decay, staircase=True
        )
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=schedule)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=schedule)
    if name == "lazy-adam":
        from tfdirectspec.training.lazy_adam import LazyAdam

        return LazyAdam(learning_rate=schedule)
    raise ValueError(f"unknown optimizer {name!r} (known: sgd, adam, lazy-adam)")
