"""Early stopping of hopeless trials: the median stopping rule, plus patience.

Why this rule and not Hyperband. A trial here is a whole training run whose
learning-rate schedule decays per epoch and whose epoch count is itself a result
(the best validation epoch, later used by the refit). Hyperband would cut runs at
fixed rungs and continue survivors from checkpoints, which needs many trials per
bracket to pay off — a few-minute budget on 2 CPU cores runs a handful of trials —
and it would make the number of epochs a budget instead of a measurement. The
median stopping rule (Golovin et al., "Google Vizier", KDD 2017) needs no
brackets, works with any proposal algorithm, costs nothing (it reads the
validation NDCG@20 the trial computes anyway every ``eval_every`` epochs) and
never shortens a promising trial.

Rule, at each evaluation epoch e of a trial of loss ℓ, with b(e) its best
validation NDCG@20 so far and P(e) the finished trials of the same loss that were
evaluated at epoch e or later, each with its best value so far p(e):

    median rule:  stop when |P(e)| ≥ min_peers, e ≥ grace · median{best epoch of p ∈ P}
                  and b(e) < median{p(e) : p ∈ P(e)}
    patience:     stop when b has not improved for ``patience`` evaluations

The grace period (half the peers' median best epoch by default) lets slow starters
rise before they are judged: on CiteULike a DirectSpec+ trial with Adam 1e-3 is below
one with 1e-2 for its first few evaluations and level with it by epoch 60, and
without the grace the rule stopped such trials at epoch 3.

Peers are trials of the *same* loss: losses differ in optimiser and speed of
convergence (Adam baselines rise fast, DirectSpec+ under SGD slowly), so
comparing early curves across losses would stop the slow starters and bias the
loss comparison the tune is meant to make. Patience stops a trial past its peak:
its reported model is the best validation epoch anyway, so further epochs only
cost time. Stopped trials keep their best epoch and are scored like the others.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import keras

from tfdirectspec.backend import require_tensorflow_backend

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now

#: What is monitored: the trial's validation NDCG at the largest K (the selection metric).
MONITOR = "val_ndcg@20"


def best_so_far(curve: Sequence[tuple[int, float]], epoch: int) -> float | None:
    """Best value of a curve ``[(epoch, value), …]`` up to ``epoch`` (None: none yet).

    Example:
        >>> best_so_far([(10, 0.1), (20, 0.3), (30, 0.2)], 25)
        0.3
    """
    values = [v for e, v in curve if e <= epoch]
    return max(values) if values else None


def median_stop(
    value: float,
    epoch: int,
    peers: Sequence[Sequence[tuple[int, float]]],
    min_peers: int = 2,
    grace: float = 0.5,
) -> bool:
    """The median stopping rule: is ``value`` (best so far at ``epoch``) below the peers' median?

    A peer counts when it was evaluated at ``epoch`` or later (so its best-so-far
    at ``epoch`` is a full comparison). Before ``grace`` × the peers' median best
    epoch, no trial is stopped.

    Example:
        >>> peers = [[(10, 0.2), (20, 0.3)], [(10, 0.1), (20, 0.25)]]
        >>> median_stop(0.1, 20, peers), median_stop(0.3, 20, peers)
        (True, False)
    """
    best_epochs = [max(p, key=lambda point: point[1])[0] for p in peers if p]
    if not best_epochs or epoch < grace * statistics.median(best_epochs):
        return False
    reference = [best_so_far(p, epoch) for p in peers if p and p[-1][0] >= epoch]
    reference = [r for r in reference if r is not None]
    return len(reference) >= max(min_peers, 1) and value < statistics.median(reference)


class HopelessTrialStop(keras.callbacks.Callback):
    """Stops a trial by the median rule or by patience, at evaluation epochs.

    Put it after the ranking evaluation in the callback list (``train`` does:
    extra callbacks come last), so the epoch logs hold ``val_ndcg@20``.

    Args:
        peers: validation curves ``[(epoch, value), …]`` of finished trials of the same loss.
        min_peers: the median rule needs this many peers (0 = median rule off).
        patience: evaluations without improvement before stopping (0 = off).
        monitor: the logs key to read.

    Attributes:
        curve: this trial's ``[(epoch, value), …]``.
        stopped_by: ``"median"``, ``"patience"`` or None.
        stopped_epoch: the epoch it stopped after, or None.
    """

    def __init__(
        self,
        peers: Sequence[Sequence[tuple[int, float]]] = (),
        min_peers: int = 2,
        patience: int = 5,
        monitor: str = MONITOR,
    ) -> None:
        super().__init__()
        self.peers = [list(p) for p in peers]
        self.min_peers, self.patience, self.monitor = int(min_peers), int(patience), monitor
        self.curve: list[tuple[int, float]] = []
        self.stopped_by: str | None = None
        self.stopped_epoch: int | None = None
        self._best, self._since_best = float("-inf"), 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not logs or self.monitor not in logs:
            return
        done, value = epoch + 1, float(logs[self.monitor])
        last = done >= self.params.get("epochs", 0)
        self.curve.append((done, value))
        if value > self._best:
            self._best, self._since_best = value, 0
        else:
            self._since_best += 1
        if last:
            return
        if self.min_peers and median_stop(self._best, done, self.peers, self.min_peers):
            self.stopped_by = "median"
        elif self.patience and self._since_best >= self.patience:
            self.stopped_by = "patience"
        if self.stopped_by:
            self.stopped_epoch = done
            self.model.stop_training = True
