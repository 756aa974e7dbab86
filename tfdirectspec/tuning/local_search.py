"""Where the tune looks next: the recipe, then random draws alternating with local steps.

A trial costs minutes, so a tune runs few of them, and pure random search spends
most of them far from the recipe, which is already good on most data. The
proposals therefore alternate between exploring and refining (a (1+1) evolution
strategy interleaved with random search):

* trial 0: the loss's recipe (the defaults of the space);
* odd trials: a step from the best finished trial so far (the first one refines the recipe);
* even trials ≥ 2: a uniform random draw from the space (KerasTuner's).

A step moves each hyper-parameter with probability ½ (at least one moves) in
KerasTuner's probability scale ``u = F(x)``, ``F`` the CDF of the space's own
distribution (so log-uniform values move by factors, uniform ones by shares of
their range): ``u' = reflect(u + σ·z)`` with ``z ~ N(0, 1)``, ``σ`` = ``STEP``,
reflected back into ``[0, 1]``, and ``x' = F⁻¹(u')``. A choice moves to a
neighbouring value. Draws come from ``random.Random(seed)``, so a tune with the
same seed proposes the same trials.

Example:
    >>> import keras_tuner
    >>> hps = keras_tuner.HyperParameters()
    >>> _ = hps.Float("lr", 1e-4, 1e-2, sampling="log", default=1e-3)
    >>> _ = hps.Choice("shrink", [0.0, 0.03, 0.1], default=0.03)
    >>> step = local_step(hps, {"lr": 1e-3, "shrink": 0.03}, seed=1)
    >>> sorted(step), 1e-4 <= step["lr"] <= 1e-2, step != {"lr": 1e-3, "shrink": 0.03}
    (['lr', 'shrink'], True, True)
"""

from __future__ import annotations

import random
from typing import Any

#: Standard deviation of a step, in the probability scale of each hyper-parameter.
STEP = 0.15


def reflect(u: float) -> float:
    """``u`` folded back into ``[0, 1]`` at both ends.

    Example:
        >>> reflect(1.2), reflect(-0.25), reflect(0.5)
        (0.8, 0.25, 0.5)
    """
    u = abs(u) % 2.0
    return round(2.0 - u if u > 1.0 else u, 12)


def local_step(hyperparameters, values: dict[str, Any], seed: int) -> dict[str, Any]:
    """Values one step away from ``values`` (see the module docstring).

    Args:
        hyperparameters: the space, a ``keras_tuner.HyperParameters``.
        values: the point to step from (e.g. the best trial's values).
        seed: seeds the step.
    """
    rng = random.Random(seed)
    space = list(hyperparameters.space)
    moving = [hp for hp in space if rng.random() < 0.5] or [rng.choice(space)]
    out = dict(values)
    for hp in moving:
        # By class name: KerasTuner's Float and Int also have `.values` (a grid of samples).
        if type(hp).__name__ == "Choice":  # a neighbouring value
            choices = list(hp.values)
            if len(choices) > 1:
                index = choices.index(values[hp.name]) if values[hp.name] in choices else 0
                index += rng.choice((-1, 1))
                index = -index if index < 0 else index
                out[hp.name] = choices[min(index, 2 * (len(choices) - 1) - index)]
            continue
        u = reflect(hp.value_to_prob(values[hp.name]) + rng.gauss(0.0, STEP))
        out[hp.name] = hp.prob_to_value(u)
    return out
