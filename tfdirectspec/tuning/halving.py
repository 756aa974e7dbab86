"""Which loss gets the next trial: successive halving over the losses a tune compares.

A tune over several losses (``--loss auto`` compares seven) cannot afford many trials of
each in a 30-minute budget on two cores, and an even split gives the loss that leads on
validation no more trials than the one that trails by 30 %. So the losses race in
rounds (successive halving, Jamieson & Talwalkar 2016, with a trial as the unit of budget):

* round 0: every loss gets one trial, its recipe, in the given order (``--loss auto``
  puts the cheap closed-form baselines first, so they are always compared);
* after round ``r``: the ``max(HALVING_MIN_KEEP, ⌈n_r / 2⌉)`` losses with the best
  validation score so far (their best trial) stay, the others get no more trials;
* round ``r + 1``: each remaining loss gets one more trial.

With seven losses: 7 trials, then 4, then 2 a round (so the two leaders alternate for the
rest of the budget). With two losses nothing is dropped: they alternate, as before.
Within a round a trial may use at most its share of the time left,
``(deadline − reserve − now) / (losses still due in the round)``
(:meth:`~tfdirectspec.tuning.tuner.Tune._run_trial`), so fewer losses in a round
means more time per trial for the leaders. A loss whose every trial failed ranks last.

Example:
    >>> losses = ["ease", "ials", "directspec+", "bpr"]
    >>> next_loss(losses, {l: 0 for l in losses}, {})  # round 0: in order
    ('ease', 4)
    >>> trials = {l: 1 for l in losses}
    >>> scores = {"ease": 0.30, "ials": 0.28, "directspec+": 0.25, "bpr": 0.20}
    >>> survivors(losses, trials, scores)
    (['ease', 'ials'], 1)
    >>> next_loss(losses, trials, scores)
    ('ease', 2)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

#: Losses kept in every round at least (the leader and a runner-up, against noise).
HALVING_MIN_KEEP = 2


def survivors(
    losses: Sequence[str],
    trials: Mapping[str, int],
    scores: Mapping[str, float | None],
    min_keep: int = HALVING_MIN_KEEP,
) -> tuple[list[str], int]:
    """The losses still racing and the round ``r`` they are in.

    Args:
        losses: the losses, in scheduling order.
        trials: loss → trials launched.
        scores: loss → best validation score so far (None or missing: no result).
        min_keep: the fewest losses a round keeps.

    Returns:
        ``(alive, r)``: ``alive`` in the order of ``losses``; each of them is due a trial
        until it has ``r + 1``.
    """
    order = {loss: i for i, loss in enumerate(losses)}

    def rank(loss: str) -> tuple[float, int]:
        score = scores.get(loss)
        return (-(score if score is not None else -math.inf), order[loss])

    alive, round_ = list(losses), 0
    while alive and all(trials.get(loss, 0) >= round_ + 1 for loss in alive):
        keep = max(min(min_keep, len(alive)), math.ceil(len(alive) / 2))
        kept = set(sorted(alive, key=rank)[:keep])
        alive = [loss for loss in alive if loss in kept]
        round_ += 1
    return alive, round_


def next_loss(
    losses: Sequence[str],
    trials: Mapping[str, int],
    scores: Mapping[str, float | None],
    min_keep: int = HALVING_MIN_KEEP,
) -> tuple[str | None, int]:
    """The loss whose trial is next and how many losses (it included) are due in its round.

    Returns:
        ``(loss, due)``; ``(None, 0)`` when ``losses`` is empty.
    """
    alive, round_ = survivors(losses, trials, scores, min_keep)
    due = [loss for loss in alive if trials.get(loss, 0) < round_ + 1]
    return (due[0], len(due)) if due else (None, 0)
