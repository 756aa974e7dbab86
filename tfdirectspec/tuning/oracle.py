"""The KerasTuner oracle of one loss: which values a trial gets, and where its state is kept.

:func:`recipe_first_oracle` is KerasTuner's ``RandomSearchOracle`` with the recipe first
and local steps from the best trial between random draws
(:mod:`tfdirectspec.tuning.local_search`); :func:`open_oracle` makes one for a loss of a
tune, reloading its state (``DIR/oracle/<loss>/``) when a resumed tune has it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tfdirectspec.training.zoo import loss_slug
from tfdirectspec.tuning.settings import TuneSettings

#: Local steps tried before a trial falls back to a random draw (a step may repeat a trial).
LOCAL_STEP_ATTEMPTS = 20


def open_oracle(settings: TuneSettings, index: int, loss: str, directory: str | Path):
    """The oracle of ``loss`` (the ``index``-th loss of ``settings``), kept in ``directory``.

    Its defaults are the loss's recipe (the first trial), its objective the maximum of
    ``settings.monitor``; the state already in ``directory/<loss>/`` is reloaded.
    """
    import keras_tuner

    config = settings.config(loss)
    recipe = {k: getattr(config, k) for k in settings.spaces[loss]}
    oracle = recipe_first_oracle()(
        objective=keras_tuner.Objective(settings.monitor, direction="max"),
        max_trials=settings.max_trials,
        seed=settings.seed * 101 + index + 1,  # KerasTuner draws a random seed for 0
        hyperparameters=settings.space(loss).hyperparameters(recipe),
        allow_new_entries=False,
        tune_new_entries=False,
        max_consecutive_failed_trials=1 << 30,  # a failed trial is a result, not a crash
    )
    oracle.verbose = 0
    # KerasTuner's Tuner normally does this; we drive the oracle ourselves.
    oracle._set_project_dir(str(directory), loss_slug(loss))
    if Path(oracle._get_oracle_fname()).is_file():
        oracle.reload()
    return oracle


@functools.cache
def recipe_first_oracle() -> type:
    """KerasTuner's random-search oracle with the proposals of :mod:`.local_search`.

    Trial 0 is the space's defaults (the loss's recipe); odd trials are a local step from
    the best finished trial; even trials from 2 on are random draws.
    """
    import keras_tuner

    from tfdirectspec.tuning import local_search

    class RecipeFirstOracle(keras_tuner.oracles.RandomSearchOracle):
        def populate_space(self, trial_id):
            if not self.trials:
                return {"status": "RUNNING", "values": self.hyperparameters.copy().values}
            best = self.get_best_trials(1) if len(self.trials) % 2 == 1 else []
            for _ in range(LOCAL_STEP_ATTEMPTS if best else 0):
                values = local_search.local_step(
                    self.hyperparameters, best[0].hyperparameters.values, self._seed_state
                )
                self._seed_state += 1
                if not self._duplicate(values):
                    return {"status": "RUNNING", "values": values}
            return super().populate_space(trial_id)

    return RecipeFirstOracle
