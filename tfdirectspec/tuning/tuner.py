"""``tfdirectspec tune``: hyper-parameter search on validation with KerasTuner, then a refit.

The search maximises the validation NDCG@K (K the largest cut-off) of the best
epoch of each trial. Every loss being compared has its own search space
(:mod:`tfdirectspec.tuning.space`) and its own KerasTuner oracle
(KerasTuner's ``RandomSearchOracle``, with the recipe first and local steps from the
best trial between random draws: :mod:`tfdirectspec.tuning.local_search`), which
proposes values and keeps its state on disk;
this module schedules the trials, runs them with
:func:`~tfdirectspec.training.trainer.train`, stops hopeless ones
(:mod:`tfdirectspec.tuning.early_stopping`) and keeps to the wall-clock budget
(:mod:`tfdirectspec.tuning.budget`).

The rest of the tune has a module for each of its jobs: the
settings and ``tune.json`` (:mod:`~tfdirectspec.tuning.settings`), the trial records
(:mod:`~tfdirectspec.tuning.records`), the oracles (:mod:`~tfdirectspec.tuning.oracle`),
``trials.tsv`` (:mod:`~tfdirectspec.tuning.tables`), the TOML files
(:mod:`~tfdirectspec.tuning.toml_writer`) and the TensorBoard HParams
(:mod:`~tfdirectspec.tuning.hparams`).

* Scheduling: successive halving over the losses (:mod:`tfdirectspec.tuning.halving`):
  every loss gets one trial, in the order given (``--loss auto`` puts the closed-form
  and ALS baselines first), then the better half by validation score go on, one trial
  each a round, down to the two leaders; within a round a trial may use at most its
  share of the time left. The first trial of every loss is its zoo recipe
  (KerasTuner's defaults are set to it), so the comparison always contains each
  loss's reference recipe: the winner is never worse on validation than the best
  baseline recipe that ran.
* Every trial trains on the same data split with the same seed (common random
  numbers: differences come from the hyper-parameters, not the draw).
* The test split never reaches a trial: trials get the data with an empty test
  matrix (:func:`~tfdirectspec.training.refit.without_test`), so nothing of test
  is read, recorded or printed while tuning. The only test evaluation is the
  final refit of the winner on train ∪ valid for its best epoch
  (:func:`~tfdirectspec.training.refit.refit`).

Output folder::

    DIR/tune.json              settings (what --resume continues with)
    DIR/oracle/<loss>/         KerasTuner's state (oracle.json, trial_NN/trial.json)
    DIR/trials/<trial>/        metrics.json (validation only) and config.toml of each trial
    DIR/trials.tsv             one row per trial
    DIR/logs/                  TensorBoard HParams view (one run per trial)
    DIR/best.toml              the winner for `tfdirectspec train --config DIR/best.toml`
    DIR/refit/                 the winner's refit: model.keras, metrics.json (test), id maps

Resuming: finished trials (those with ``trials/<id>/metrics.json``) are never
rerun; a trial that was interrupted is rerun from its start with the same values.

Usage (what ``tfdirectspec tune`` does; ``new_settings`` is in
:mod:`~tfdirectspec.tuning.settings`)::

    settings = new_settings(["directspec+", "bpr"], base_configs, max_trials=8, seed=0)
    result = run_tune("runs/tune", settings, data, time_budget=30)
    result.best.trial_id, result.refit_metrics["test"]["ndcg@20"]
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfdirectspec.data import InteractionData
from tfdirectspec.errors import InputError
from tfdirectspec.parameters import ParameterError
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.run_dir import write_json
from tfdirectspec.training.zoo import loss_slug
from tfdirectspec.tuning.hparams import write_hparams_config, write_hparams_run
from tfdirectspec.tuning.oracle import open_oracle
from tfdirectspec.tuning.records import TrialRecord, best_config, best_record, short_value
from tfdirectspec.tuning.settings import SETTINGS_FILE, TuneSettings, trial_config
from tfdirectspec.tuning.tables import trials_table
from tfdirectspec.tuning.toml_writer import write_config_toml

ORACLE_DIR = "oracle"
TRIALS_DIR = "trials"
TABLE_FILE = "trials.tsv"
LOGS_DIR = "logs"
BEST_FILE = "best.toml"
REFIT_DIR = "refit"
TRIAL_METRICS = "metrics.json"
TRIAL_CONFIG = "config.toml"
#: Safety factor on the refit's estimated training time (load on a shared machine varies).
REFIT_MARGIN = 1.2


@dataclasses.dataclass
class TuneResult:
    """What a tune produced."""

    records: list[TrialRecord]
    best: TrialRecord | None
    best_config: TrainConfig | None
    refit_metrics: dict[str, Any] | None


class Tune:
    """A tune in the folder ``output`` (see the module docstring for its layout).

    Args:
        output: the tune's folder.
        settings: what to search.
        data: the data with its validation split (and test, for the refit only).
        verbose: Keras verbosity of the trials' ``fit``.
        log: where progress lines go.
    """

    def __init__(
        self,
        output: str | Path,
        settings: TuneSettings,
        data: InteractionData,
        verbose: int | str = 0,
        log: Callable[[str], None] = print,
    ) -> None:
        from tfdirectspec.training.refit import without_test

        if not data.valid.nnz:
            raise ParameterError("valid_fraction", "must be > 0: tuning selects on validation")
        self.output = Path(output)
        self.settings, self.data = settings, data
        self.trial_data = without_test(data)  # all that trials ever see
        self.verbose, self.log = verbose, log
        self.monitor = settings.monitor
        self.oracles = {loss: self._oracle(i, loss) for i, loss in enumerate(settings.losses)}

    # ---- state -------------------------------------------------------------------------

    def _oracle(self, index: int, loss: str):
        return open_oracle(self.settings, index, loss, self.output / ORACLE_DIR)

    def records(self) -> list[TrialRecord]:
        """Finished trials, in the order they started."""
        found = []
        for loss, oracle in self.oracles.items():
            for kt_id in oracle.start_order:
                record = self._read_record(self._trial_id(loss, kt_id))
                if record is not None:
                    found.append((oracle.start_order.index(kt_id), loss, record))
        order = {loss: i for i, loss in enumerate(self.settings.losses)}
        # Interleave as scheduled: round by round, losses in order.
        found.sort(key=lambda item: (item[0], order[item[1]]))
        return [record for _, _, record in found]

    def _trial_id(self, loss: str, kt_id: str) -> str:
        return f"{loss_slug(loss)}-{kt_id}"

    def _trial_dir(self, trial_id: str) -> Path:
        return self.output / TRIALS_DIR / trial_id

    def _read_record(self, trial_id: str) -> TrialRecord | None:
        file = self._trial_dir(trial_id) / TRIAL_METRICS
        if not file.is_file():
            return None
        return TrialRecord.from_dict(json.loads(file.read_text()))

    # ---- the search ----------------------------------------------------------------------

    def search(self, time_budget: float = 0.0, started: float | None = None) -> list[TrialRecord]:
        """Runs trials until ``max_trials``, the budget, or every space is exhausted.

        Args:
            time_budget: minutes for the search and the refit together (0 = none).
            started: ``time.perf_counter()`` when the budget started (default: now),
                e.g. before loading the data.

        Returns:
            All finished trials (including those of earlier, resumed sessions).
        """
        self.output.mkdir(parents=True, exist_ok=True)
        self._started = time.perf_counter() if started is None else started
        self._deadline = self._started + 60.0 * time_budget if time_budget else math.inf
        exhausted: set[str] = set()
        while True:
            records = self.records()
            loss = self._next_loss(exhausted)
            if loss is None:
                break
            oracle = self.oracles[loss]
            retry = bool(oracle._retry_queue)
            if not retry and self._launched() >= self.settings.max_trials:
                break
            if not self._time_for_a_trial(records, loss):
                self.log("tune: time budget reached; no further trials")
                break
            due = 1 if retry else self._due(records, exhausted)
            trial = oracle.create_trial("tfdirectspec")
            if trial.status != "RUNNING":
                exhausted.add(loss)
                continue
            record = self._read_record(self._trial_id(loss, trial.trial_id))
            if record is None:  # not finished in an earlier session: run it
                record = self._run_trial(loss, trial, records, due)
            self._report(oracle, trial, record)
            self._write_table()
            self._log_trial(record)
        return self.records()

    def _launched(self) -> int:
        return sum(len(o.trials) for o in self.oracles.values())

    def _next_loss(self, exhausted: set[str]) -> str | None:
        """The loss whose turn it is: an interrupted trial first, else by successive halving.

        See :mod:`tfdirectspec.tuning.halving`: every loss gets its recipe trial (in the
        order given), then the better half of the losses by validation score go on.
        """
        for loss, oracle in self.oracles.items():
            if oracle._retry_queue and loss not in exhausted:
                return loss
        return self._halving(self.records(), exhausted)[0]

    def _halving(self, records: list[TrialRecord], exhausted: set[str]) -> tuple[str | None, int]:
        from tfdirectspec.tuning.halving import next_loss

        candidates = [loss for loss in self.settings.losses if loss not in exhausted]
        trials = {loss: len(self.oracles[loss].trials) for loss in candidates}
        scores: dict[str, float] = {}
        for record in records:
            if record.score is not None and record.loss in trials:
                scores[record.loss] = max(scores.get(record.loss, -math.inf), record.score)
        return next_loss(candidates, trials, scores)

    def _due(self, records: list[TrialRecord], exhausted: set[str]) -> int:
        """Losses (the next one included) still due a trial in the current halving round."""
        return self._halving(records, exhausted)[1]

    def _reserve(self, records: list[TrialRecord]) -> float:
        """Seconds kept for the refit of the best trial so far (see tuning.budget)."""
        best = best_record(records)
        if best is None:
            return 0.0
        fraction = self.settings.config(best.loss).valid_fraction
        train = best.best_epoch * best.seconds_per_epoch_median * (1.0 + fraction)
        return REFIT_MARGIN * train + best.slowest_epoch_seconds

    def _time_for_a_trial(self, records: list[TrialRecord], loss: str) -> bool:
        """Whether a trial of ``loss`` can still train and evaluate an epoch (see tuning.budget).

        Needs the time of two of its slowest epochs (one trained and evaluated, and
        its refit) beyond the refit reserve; a loss not yet timed is always tried.
        """
        if math.isinf(self._deadline):
            return True
        left = self._deadline - self._reserve(records) - time.perf_counter()
        slowest = max((r.slowest_epoch_seconds for r in records if r.loss == loss), default=0.0)
        return left > 0 and 2 * slowest <= left

    def _run_trial(
        self, loss: str, trial, records: list[TrialRecord], untried: int = 0
    ) -> TrialRecord:
        """Trains one trial on the test-less data.

        ``untried``: losses due a trial in the current halving round, this one included;
        with more than one the trial may use at most its share of the time left.
        """
        from tfdirectspec.training.trainer import train

        trial_id = self._trial_id(loss, trial.trial_id)
        values = dict(trial.hyperparameters.values)
        started = time.perf_counter()
        try:
            config = trial_config(self.settings.config(loss), values, trial_id)
        except InputError as error:
            return self._commit(TrialRecord.failed(trial_id, loss, values, str(error)))
        stopper, budget = self._trial_callbacks(loss, config, records, started, untried)
        self.log(f"tune: trial {trial_id} ({loss}) {_format_values(values)}")
        result = train(
            config, data=self.trial_data, callbacks=[stopper, budget], verbose=self.verbose
        )
        assert not result.metrics["test"], "a trial must not evaluate the test split"
        stopped_by = stopper.stopped_by or ("time budget" if budget.stopped_epoch else None)
        record = TrialRecord.of_result(
            trial_id,
            loss,
            values,
            result,
            self.monitor,
            stopped_by,
            slowest_epoch_seconds=budget.slowest(),
            wall_seconds=time.perf_counter() - started,
            config=config,
        )
        return self._commit(record)

    def _trial_callbacks(
        self,
        loss: str,
        config: TrainConfig,
        records: list[TrialRecord],
        started: float,
        untried: int,
    ) -> tuple[Any, Any]:
        """A trial's early stopping and time budget (at most its share of the round's time)."""
        from tfdirectspec.tuning.budget import TrialBudget
        from tfdirectspec.tuning.early_stopping import HopelessTrialStop

        peers = [r.curve for r in records if r.loss == loss and r.curve]
        stopper = HopelessTrialStop(
            peers, self.settings.min_peers, self.settings.patience, self.monitor
        )
        reserve = self._reserve(records)
        deadline = self._deadline - reserve
        if untried > 1 and not math.isinf(deadline):  # leave the round's others their share
            deadline = started + (deadline - started) / untried

        def own_refit(epochs: int, seconds: float) -> float:
            return max(0.0, epochs * seconds * (1.0 + config.valid_fraction) - reserve)

        return stopper, TrialBudget(deadline, config.eval_every, own_refit)

    def _commit(self, record: TrialRecord) -> TrialRecord:
        """Writes ``trials/<id>/`` (metrics.json, config.toml) atomically, then its TB run."""
        final = self._trial_dir(record.trial_id)
        staging = final.parent / f".{final.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        write_json(staging / TRIAL_METRICS, record.to_dict())
        if record.config:
            config = TrainConfig().updated(record.config, record.trial_id)
            write_config_toml(staging / TRIAL_CONFIG, config, f"trial {record.trial_id}")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        write_hparams_run(self.output / LOGS_DIR, record, self.monitor)
        return record

    def _report(self, oracle, trial, record: TrialRecord) -> None:
        """Tells the oracle the trial's validation curve and ends the trial."""
        for epoch, value in record.curve:
            oracle.update_trial(trial.trial_id, {self.monitor: value}, step=epoch)
        trial.status = "FAILED" if record.score is None else "COMPLETED"
        trial.message = record.message
        oracle.end_trial(trial)

    def _log_trial(self, record: TrialRecord) -> None:
        score = "—" if record.score is None else f"{record.score:.4f}"
        how = record.status + (f" by {record.stopped_by}" if record.stopped_by else "")
        self.log(
            f"tune: trial {record.trial_id}: {self.monitor} {score} at epoch {record.best_epoch} "
            f"({record.epochs_run} epochs, {how}, {record.wall_seconds:.0f} s)"
            + (f": {record.message}" if record.message else "")
        )

    def _write_table(self) -> str:
        text = trials_table(self.records(), self.monitor)
        path = self.output / TABLE_FILE
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return text

    # ---- the result ----------------------------------------------------------------------

    def finish(self, refit: bool = True) -> TuneResult:
        """Writes ``best.toml`` and the table; with ``refit``, refits the winner (train ∪ valid)."""
        records = self.records()
        self._write_table()
        best = best_record(records)
        if best is None:
            return TuneResult(records, None, None, None)
        config = best_config(best)
        comment = (
            f"tfdirectspec tune: the best of {len(records)} trials is {best.trial_id}, "
            f"{self.monitor} {best.score:.4f} at epoch {best.best_epoch}\n"
            f"(validation: {best.config['valid_fraction']} of each user's train items). "
            "With valid_fraction = 0 and epochs = that epoch,\n"
            "`tfdirectspec train --config` on this file is the refit on train + valid."
        )
        write_config_toml(self.output / BEST_FILE, config, comment)
        metrics = self._refit(best, config) if refit else None
        return TuneResult(records, best, config, metrics)

    def _refit(self, best: TrialRecord, config: TrainConfig) -> dict[str, Any]:
        from tfdirectspec.training.refit import refit
        from tfdirectspec.training.run_dir import Run

        path = self.output / REFIT_DIR
        if (path / "metrics.json").is_file():
            done = Run.open(path).metrics()
            if done.get("selection", {}).get("trial_id") == best.trial_id:
                return done
        self.log(f"tune: refit of {best.trial_id} on train + valid for {best.best_epoch} epochs")
        selection = {
            "trial_id": best.trial_id,
            "loss": best.loss,
            "best_epoch": best.best_epoch,
            "valid": best.valid,
            "hyperparameters": best.hyperparameters,
            "item_norm_exponent": config.item_norm_exponent,
        }
        run_dir = Run.create(path, overwrite=True)
        try:
            run_dir.write_config(config)
            result = refit(
                config, self.data, best.best_epoch, verbose=self.verbose, selection=selection
            )
            run_dir.commit(result.model, result.metrics, result.data)
        except BaseException:
            run_dir.abort()
            raise
        return result.metrics


def run_tune(
    output: str | Path,
    settings: TuneSettings,
    data: InteractionData,
    time_budget: float = 0.0,
    resume: bool = False,
    refit: bool = True,
    verbose: int | str = 0,
    log: Callable[[str], None] = print,
    started: float | None = None,
) -> TuneResult:
    """Searches, writes the table and ``best.toml``, and refits the winner.

    Args:
        output: the tune's folder (must not hold another tune unless ``resume``).
        settings: what to search (:func:`new_settings`, or :func:`read_settings`).
        data: the data, with its validation split.
        time_budget: minutes for this session, search and refit (0 = none).
        resume: continue the tune in ``output``: finished trials are kept.
        refit: retrain the winner on train ∪ valid and test it.
        verbose: Keras verbosity of the trials.
        log: where progress lines go.
        started: ``time.perf_counter()`` when the budget started (default: now).
    """
    output = Path(output)
    if not resume:
        output.mkdir(parents=True, exist_ok=True)
        write_json(output / SETTINGS_FILE, dataclasses.asdict(settings))
        write_hparams_config(output / LOGS_DIR, settings)
    tune = Tune(output, settings, data, verbose=verbose, log=log)
    tune.search(time_budget, started)
    return tune.finish(refit=refit)


def _format_values(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={short_value(v)}" for k, v in values.items())
