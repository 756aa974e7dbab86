"""TensorBoard HParams of a tune (``DIR/logs``): the experiment, and one run per trial."""

from __future__ import annotations

from pathlib import Path

from tfdirectspec.tuning.records import TrialRecord, short_value
from tfdirectspec.tuning.settings import TuneSettings


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

    values = {"loss": record.loss, **{k: short_value(v) for k, v in record.hyperparameters.items()}}
    with tf.summary.create_file_writer(str(Path(logdir) / record.trial_id)).as_default():
        hp_api.hparams(values, trial_id=record.trial_id)
        for epoch, value in record.curve:
            tf.summary.scalar(monitor, value, step=epoch)
        if record.score is not None:
            tf.summary.scalar(f"best_{monitor}", record.score, step=record.best_epoch)
            tf.summary.scalar("best_epoch", record.best_epoch, step=record.best_epoch)
