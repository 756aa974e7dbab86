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

Usage (what ``tfdirectspec tune`` does)::

    settings = new_settings(["directspec+", "bpr"], base_configs, max_trials=8, seed=0)
    result = run_tune("runs/tune", settings, data, time_budget=30)
    result.best.trial_id, result.refit_metrics["test"]["ndcg@20"]
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
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
from tfdirectspec.tuning.space import SearchSpace, toml_scalar

SETTINGS_FILE = "tune.json"
#: Local steps tried before a trial falls back to a random draw (a step may repeat a trial).
LOCAL_STEP_ATTEMPTS = 20
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
class TuneSettings:
    """What a tune searches; saved as ``tune.json`` so ``--resume`` continues the same search.

    Attributes:
        losses: the losses compared, in scheduling order.
        base: loss → the TrainConfig (as a dict) a trial starts from: its zoo recipe
            plus the command's flags (data, tower, epochs, valid fraction, seed).
        spaces: loss → its search space (as the TOML tables).
        max_trials: trials in total, over all losses.
        seed: the oracles' seed (trials train with ``base[...]["seed"]``).
        patience: evaluations without improvement before a trial stops (0 = off).
        min_peers: finished same-loss trials the median rule needs (0 = off).
    """

    losses: list[str]
    base: dict[str, dict[str, Any]]
    spaces: dict[str, dict[str, Any]]
    max_trials: int = 10
    seed: int = 0
    patience: int = 5
    min_peers: int = 2

    def space(self, loss: str) -> SearchSpace:
        """The search space of ``loss`` (parsed from the saved tables)."""
        from tfdirectspec.tuning.space import Param

        params = {k: Param(**_param_fields(v)) for k, v in self.spaces[loss].items()}
        return SearchSpace(loss, params, f"{SETTINGS_FILE}:{loss}")

    def config(self, loss: str) -> TrainConfig:
        """The base TrainConfig of ``loss``."""
        return TrainConfig().updated(self.base[loss], SETTINGS_FILE)

    @property
    def monitor(self) -> str:
        """The validation metric maximised, e.g. ``val_ndcg@20``."""
        return f"val_ndcg@{max(self.config(self.losses[0]).ks)}"


def _param_fields(table: dict[str, Any]) -> dict[str, Any]:
    if "choice" in table:
        return {"kind": "choice", "values": tuple(table["choice"])}
    kind = next(k for k in table if k != "step")
    low, high = table[kind]
    return {"kind": kind, "low": low, "high": high, "step": table.get("step")}


def new_settings(
    spaces: dict[str, SearchSpace],
    base: dict[str, TrainConfig],
    max_trials: int = 10,
    seed: int = 0,
    patience: int = 5,
    min_peers: int = 2,
) -> TuneSettings:
    """Settings of a new tune over ``spaces`` (loss → space), starting from ``base`` configs."""
    losses = list(spaces)
    return TuneSettings(
        losses=losses,
        base={loss: base[loss].to_dict() for loss in losses},
        spaces={loss: spaces[loss].to_dict() for loss in losses},
        max_trials=max_trials,
        seed=seed,
        patience=patience,
        min_peers=min_peers,
    )


def read_settings(output: str | Path) -> TuneSettings:
    """The settings of the tune in ``output`` (for ``--resume``).

    Raises:
        InputError: no tune there, or an unreadable settings file.
    """
    file = Path(output) / SETTINGS_FILE
    if not file.is_file():
        raise ParameterError("resume", f"no tune in {output} (no {SETTINGS_FILE})")
    try:
        return TuneSettings(**json.loads(file.read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise ParameterError("resume", f"{file}: unreadable ({error})") from None


@dataclasses.dataclass
class TrialRecord:
    """One finished trial, as stored in ``trials/<trial_id>/metrics.json``.

    ``status`` is ``completed`` (ran its epochs), ``stopped`` (early stopping or
    budget; ``stopped_by`` says which) or ``failed`` (invalid config, no
    validation result, non-finite loss before any evaluation).
    """

    trial_id: str
    loss: str
    hyperparameters: dict[str, Any]
    status: str
    stopped_by: str | None
    score: float | None
    best_epoch: int
    epochs_run: int
    valid: dict[str, float]
    curve: list[tuple[int, float]]
    train_seconds: float
    seconds_per_epoch_median: float
    slowest_epoch_seconds: float
    wall_seconds: float
    config: dict[str, Any]
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrialRecord:
        values = dict(values)
        values["curve"] = [tuple(p) for p in values["curve"]]
        return cls(**values)


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
        import keras_tuner

        config = self.settings.config(loss)
        recipe = {k: getattr(config, k) for k in self.settings.spaces[loss]}
        oracle = recipe_first_oracle()(
            objective=keras_tuner.Objective(self.monitor, direction="max"),
            max_trials=self.settings.max_trials,
            seed=self.settings.seed * 101 + index + 1,  # KerasTuner draws a random seed for 0
            hyperparameters=self.settings.space(loss).hyperparameters(recipe),
            allow_new_entries=False,
            tune_new_entries=False,
            max_consecutive_failed_trials=1 << 30,  # a failed trial is a result, not a crash
        )
        oracle.verbose = 0
        # KerasTuner's Tuner normally does this; we drive the oracle ourselves.
        oracle._set_project_dir(str(self.output / ORACLE_DIR), loss_slug(loss))
        if Path(oracle._get_oracle_fname()).is_file():
            oracle.reload()
        return oracle

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
        from tfdirectspec.tuning.budget import TrialBudget
        from tfdirectspec.tuning.early_stopping import HopelessTrialStop

        trial_id = self._trial_id(loss, trial.trial_id)
        values = dict(trial.hyperparameters.values)
        started = time.perf_counter()
        try:
            config = trial_config(self.settings.config(loss), values, trial_id)
        except InputError as error:
            return self._commit(self._failed(trial_id, loss, values, str(error)))
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

        budget = TrialBudget(deadline, config.eval_every, own_refit)
        self.log(f"tune: trial {trial_id} ({loss}) {_format_values(values)}")
        result = train(
            config, data=self.trial_data, callbacks=[stopper, budget], verbose=self.verbose
        )
        m = result.metrics
        assert not m["test"], "a trial must not evaluate the test split"
        curve = [
            (r["epoch"], float(r["valid"][self.monitor[4:]])) for r in m["history"] if "valid" in r
        ]
        stopped_by = stopper.stopped_by or ("time budget" if budget.stopped_epoch else None)
        score = max((v for _, v in curve), default=None)
        status = "failed" if score is None else ("stopped" if stopped_by else "completed")
        message = result.failure or (None if score is not None else "no validation result")
        record = TrialRecord(
            trial_id=trial_id,
            loss=loss,
            hyperparameters=values,
            status=status,
            stopped_by=stopped_by,
            score=score,
            best_epoch=int(m["best_epoch"]) if score is not None else 0,
            epochs_run=int(m["epochs_run"]),
            valid=m["valid"],
            curve=curve,
            train_seconds=m["train_seconds"],
            seconds_per_epoch_median=m["seconds_per_epoch_median"],
            slowest_epoch_seconds=budget.slowest(),
            wall_seconds=time.perf_counter() - started,
            config=config.to_dict(),
            message=message,
        )
        return self._commit(record)

    def _failed(self, trial_id: str, loss: str, values: dict, message: str) -> TrialRecord:
        return TrialRecord(
            trial_id=trial_id,
            loss=loss,
            hyperparameters=values,
            status="failed",
            stopped_by=None,
            score=None,
            best_epoch=0,
            epochs_run=0,
            valid={},
            curve=[],
            train_seconds=0.0,
            seconds_per_epoch_median=0.0,
            slowest_epoch_seconds=0.0,
            wall_seconds=0.0,
            config={},
            message=message,
        )

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


# ---- helpers ---------------------------------------------------------------------------------


def trial_config(base: TrainConfig, values: dict[str, Any], trial_id: str) -> TrainConfig:
    """The config of a trial: ``base`` with the trial's values; no test curves, no own budget."""
    config = base.updated(values, f"trial {trial_id}")
    config = dataclasses.replace(config, track_test=False, time_budget=0.0, name=trial_id)
    return config.check_complete()


def best_record(records: list[TrialRecord]) -> TrialRecord | None:
    """The trial with the highest validation score (the earliest on ties)."""
    scored = [r for r in records if r.score is not None]
    return max(scored, key=lambda r: r.score) if scored else None


def best_config(record: TrialRecord) -> TrainConfig:
    """The winner as a config for the refit: its values, ``epochs`` = its best epoch, no valid."""
    from tfdirectspec.training.zoo import entry_name

    config = TrainConfig().updated(record.config, record.trial_id)
    data = config.dataset or Path(config.data_dir).name
    name = entry_name(data, config.tower, config.loss) + "-tuned"
    return dataclasses.replace(
        config, epochs=record.best_epoch, valid_fraction=0.0, name=name
    ).validate()


def config_toml(config: TrainConfig, comment: str = "") -> str:
    """A flat TOML file of ``config`` that ``tfdirectspec train --config`` reads back.

    Keys whose value is None (e.g. ``tau0`` when not adaptive) are left out: TOML
    has no null and the defaults are None.

    Example:
        >>> import tomllib
        >>> c = TrainConfig(loss="bpr", optimizer="adam", lr=1e-3, batch_size=2048)
        >>> TrainConfig().updated(tomllib.loads(config_toml(c)), "x") == c
        True
    """
    lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
    for key, value in config.to_dict().items():
        if value is None:
            continue
        text = (
            "[" + ", ".join(toml_scalar(v) for v in value) + "]"
            if isinstance(value, list)
            else toml_scalar(value)
        )
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def write_config_toml(path: str | Path, config: TrainConfig, comment: str = "") -> None:
    """Writes :func:`config_toml` via a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(config_toml(config, comment))
    os.replace(tmp, path)


def trials_table(records: list[TrialRecord], monitor: str) -> str:
    """Tab-separated table of the trials: id, loss, status, score, rank, epochs, time, values.

    ``rank`` orders every scored trial, of whatever loss or baseline, by its validation
    score (1: the best, the one the tune refits); the baselines' rows (``ease``, ``ials``)
    sit beside the embedding losses' with the values they were run with.
    """
    keys = sorted({k for r in records for k in r.hyperparameters})
    scored = sorted((r for r in records if r.score is not None), key=lambda r: -r.score)
    ranks = {r.trial_id: i + 1 for i, r in enumerate(scored)}
    header = [
        "trial", "loss", "status", monitor, "rank", "best_epoch", "epochs_run", "minutes", *keys
    ]  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    for r in records:
        status = r.status + (f" ({r.stopped_by})" if r.stopped_by else "")
        writer.writerow(
            [
                r.trial_id,
                r.loss,
                status,
                "" if r.score is None else f"{r.score:.4f}",
                ranks.get(r.trial_id, ""),
                r.best_epoch,
                r.epochs_run,
                f"{r.wall_seconds / 60:.2f}",
                *[_short(r.hyperparameters.get(k, "")) for k in keys],
            ]
        )
    return out.getvalue()


def format_table(tsv: str) -> str:
    """The TSV table aligned in columns, for the terminal."""
    rows = [line.split("\t") for line in tsv.splitlines()]
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def write_hparams_config(logdir: str | Path, settings: TuneSettings) -> None:
    """The HParams experiment (the hyper-parameter names, the loss, the metrics) at ``logdir``."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp_api

    keys = sorted({k for space in settings.spaces.values() for k in space})
    hparams = [hp_api.HParam("loss", hp_api.Discrete(list(settings.losses)))]
    hparams += [hp_api.HParam(k) for k in keys]
    monitor = settings.monitor
    metrics = [
        hp_api.Metric(f"best_{monitor}", display_name=f"best {monitor}"),
        hp_api.Metric(monitor, display_name=f"{monitor} (last evaluation)"),
        hp_api.Metric("best_epoch", display_name="best epoch"),
    ]
    with tf.summary.create_file_writer(str(logdir)).as_default():
        hp_api.hparams_config(hparams=hparams, metrics=metrics)


def write_hparams_run(logdir: str | Path, record: TrialRecord, monitor: str) -> None:
    """One HParams session per trial, ``logdir/<trial_id>``: its values and validation curve."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp_api

    values = {"loss": record.loss, **{k: _short(v) for k, v in record.hyperparameters.items()}}
    with tf.summary.create_file_writer(str(Path(logdir) / record.trial_id)).as_default():
        hp_api.hparams(values, trial_id=record.trial_id)
        for epoch, value in record.curve:
            tf.summary.scalar(monitor, value, step=epoch)
        if record.score is not None:
            tf.summary.scalar(f"best_{monitor}", record.score, step=record.best_epoch)
            tf.summary.scalar("best_epoch", record.best_epoch, step=record.best_epoch)


def _short(value: Any) -> Any:
    return float(f"{value:.4g}") if isinstance(value, float) else value


def _format_values(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={_short(v)}" for k, v in values.items())


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
