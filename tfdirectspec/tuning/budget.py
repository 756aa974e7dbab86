"""The tune's wall-clock budget: when to launch or stop trials, what to keep for the refit.

A tune with ``--time-budget T`` minutes must finish — search *and* refit — within
T. Let t be the time now, D = start + T the deadline and R the refit reserve: the
estimated training time of the refit of the best trial so far,

    R = 1.2 · E* · s_train · (1 + f) + s_max

with E* its best epoch, s_train its median seconds per epoch (an epoch without
evaluation), f the validation fraction (the refit trains on train ∪ valid,
about 1/(1 − f) the interactions; (1 + f) is that to first order), s_max its
slowest epoch (graph tracing, the final test evaluation) and 1.2 a margin for
the load of a shared machine. The budget counts from the start of the command.

* A trial of a loss is launched only when t + 2 · s ≤ D − R, s the slowest epoch
  of that loss's earlier trials (0 before its first): one epoch, evaluated, and its refit.
* A running trial ends at an epoch boundary (:class:`TrialBudget`) before it would
  overrun: after epoch e it computes how many more epochs n fit, the largest n with
  t + n · s_max + R_own(e + n) ≤ D − R. s_max is its slowest epoch, evaluation
  included (the first epoch's graph tracing is left out once others are timed);
  R_own is its own refit, since it may become the winner. With n = 0 it stops now;
  when the next evaluation is more than n epochs away it shortens the run to e + n
  epochs, so that its last epoch is evaluated (as the last epoch of any run is)
  instead of training epochs no evaluation would see.
* In every round of the losses' successive halving (:mod:`tfdirectspec.tuning.halving`;
  round 0: before every loss has had a trial) a trial gets at most its share of what
  is left, (D − R − t) / (losses still due a trial in the round), so that every loss
  gets its recipe trial, the comparison always includes the baselines, and the fewer
  leaders of a later round get more time each.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import keras

from tfdirectspec.backend import require_tensorflow_backend

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now


class TrialBudget(keras.callbacks.Callback):
    """Ends a trial at an epoch boundary so the tune keeps to its deadline.

    Put it after the ranking evaluation (``train`` puts extra callbacks last). To
    shorten a run it lowers ``params["epochs"]``, which Keras shares between the
    callbacks: the evaluation then treats the new last epoch as the last and
    evaluates it, exactly as in a run started with that many epochs (the
    learning-rate schedule is per epoch, so it does not depend on the total), and
    this callback stops training after it.

    Args:
        deadline: ``time.perf_counter()`` value by which the trial must end (the
            tune's deadline minus the refit reserve of the best trial so far, or the
            first-round share); ``inf`` = no limit.
        every: the evaluation period in epochs.
        reserve: ``(epochs, seconds_per_epoch) -> seconds`` that this trial's own
            refit would need beyond the reserve already taken off ``deadline``.

    Attributes:
        stopped_epoch: the epoch it stopped after (None: ran all its epochs).
        epoch_seconds: wall seconds of each epoch (evaluation included).
    """

    def __init__(
        self,
        deadline: float,
        every: int,
        reserve: Callable[[int, float], float] | None = None,
    ) -> None:
        super().__init__()
        self.deadline, self.every = float(deadline), int(every)
        self.reserve = reserve or (lambda epochs, seconds: 0.0)
        self.stopped_epoch: int | None = None
        self.epoch_seconds: list[float] = []
        self._last = 0.0
        self._final: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        self.epoch_seconds.append(now - self._last)
        self._last = now
        done, epochs = epoch + 1, self.params.get("epochs", 0)
        if self._final is not None and done >= self._final:
            self._stop(done)
            return
        if done >= epochs or math.isinf(self.deadline):
            return
        more = self.epochs_that_fit(done, now, epochs - done)
        to_next_eval = self.every - done % self.every
        if more == 0:
            self._stop(done)
        elif more < min(to_next_eval, epochs - done):
            self._final = done + more
            self.params["epochs"] = self._final  # the evaluation sees it as the last epoch

    def epochs_that_fit(self, done: int, now: float, limit: int) -> int:
        """The largest n ≤ ``limit`` with now + n · s_max + reserve(done + n) ≤ deadline."""
        slowest = self.slowest()
        typical = statistics.median(self.epoch_seconds)
        n = 0
        while n < limit and (
            now + (n + 1) * slowest + self.reserve(done + n + 1, typical) <= self.deadline
        ):
            n += 1
        return n

    def slowest(self) -> float:
        """The slowest epoch so far, evaluation included; the first (graph tracing) only alone."""
        timed = self.epoch_seconds[1:] or self.epoch_seconds
        return max(timed, default=0.0)

    def _stop(self, done: int) -> None:
        self.stopped_epoch = done
        self.model.stop_training = True
