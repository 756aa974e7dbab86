"""Trial records: what a finished trial was (``trials/<id>/metrics.json``) and which one won.

A :class:`TrialRecord` is made from a trial's training result
(:meth:`TrialRecord.of_result`) or for a trial that could not run
(:meth:`TrialRecord.failed`); :func:`best_record` picks the winner and
:func:`best_config` turns it into the config of its refit.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tfdirectspec.training.config import TrainConfig


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

    @classmethod
    def failed(cls, trial_id: str, loss: str, values: dict, message: str) -> TrialRecord:
        """A trial that never trained (e.g. its values make an invalid config)."""
        return cls(
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

    @classmethod
    def of_result(
        cls,
        trial_id: str,
        loss: str,
        values: dict[str, Any],
        result: Any,
        monitor: str,
        stopped_by: str | None,
        slowest_epoch_seconds: float,
        wall_seconds: float,
        config: TrainConfig,
    ) -> TrialRecord:
        """The record of a trial that trained: ``result`` is its ``TrainResult``.

        ``monitor`` is the ``val_*`` metric whose curve the record keeps; ``stopped_by``
        what ended the trial early (None: it ran its epochs).
        """
        m = result.metrics
        curve = [(r["epoch"], float(r["valid"][monitor[4:]])) for r in m["history"] if "valid" in r]
        score = max((v for _, v in curve), default=None)
        if score is not None and "item_norm_calibration" in m:  # the best epoch, recalibrated
            score = max(score, float(m["valid"][monitor[4:]]))
        status = "failed" if score is None else ("stopped" if stopped_by else "completed")
        message = result.failure or (None if score is not None else "no validation result")
        return cls(
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
            slowest_epoch_seconds=slowest_epoch_seconds,
            wall_seconds=wall_seconds,
            # What reproduces the trial's model: with a calibration, the exponent it chose.
            config={**config.to_dict(), **_calibrated_keys(m.get("config", {}))},
            message=message,
        )


def _calibrated_keys(run_config: dict[str, Any]) -> dict[str, Any]:
    """The scoring keys of a run's recorded config (the exponent its calibration chose)."""
    keys = ("item_norm_exponent", "calibrate_item_norms")
    return {k: run_config[k] for k in keys if k in run_config}


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


def short_value(value: Any) -> Any:
    """A hyper-parameter value as tables and logs show it: floats to 4 significant digits.

    Example:
        >>> short_value(0.000123456), short_value(64), short_value("adam")
        (0.0001235, 64, 'adam')
    """
    return float(f"{value:.4g}") if isinstance(value, float) else value
