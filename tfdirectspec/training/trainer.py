"""One training run: data → sampler → ``model.fit`` → selection → test metrics.

This is the library entry point behind ``tfdirectspec train``; Keras scripts
can call :func:`train` directly or assemble the same parts themselves (see
``pipelines/examples/train_keras.py``).
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.data import InteractionData, InteractionSampler
from tfdirectspec.distributed.strategies import distributed_batches, is_multi_worker
from tfdirectspec.evaluation import effective_ranks, full_ranking_metrics
from tfdirectspec.models import RetrievalModel
from tfdirectspec.models.retrieval import scale_item_norms
from tfdirectspec.parameters import check_ks, check_multi_worker
from tfdirectspec.training.builders import build_loss, build_tower
from tfdirectspec.training.calibration import Calibration, calibrate_item_norms
from tfdirectspec.training.callbacks import (
    EpochTimer,
    FiniteLossGuard,
    RankingEvaluation,
    TimeBudget,
)
from tfdirectspec.training.config import BASELINES, TrainConfig, load_data
from tfdirectspec.training.lazy_adam import LazyAdamCatchUp
from tfdirectspec.training.optimizers import make_optimizer
from tfdirectspec.training.recipes import resolve_for_data
from tfdirectspec.training.warm_start import check_warm_start, warm_start

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now


@dataclasses.dataclass
class TrainResult:
    """What a run produced: the trained model, its data and its ``metrics.json`` record."""

    model: RetrievalModel
    data: InteractionData
    metrics: dict[str, Any]
    history: keras.callbacks.History
    failure: str | None = None


def sampler_for(config: TrainConfig, data: InteractionData) -> InteractionSampler:
    """The training sampler the config's loss needs."""
    loss = build_loss(config)
    features = set(loss.required_features)
    return InteractionSampler(
        data.train,
        batch_size=config.batch_size,
        scheme=config.sampler,
        negatives="negative" in features,
        shared_masks="user_shared" in features,
        seed=config.seed,
    )


def build_model(config: TrainConfig, data: InteractionData, steps_per_epoch: int) -> RetrievalModel:
    """A compiled :class:`RetrievalModel`; call inside the strategy scope."""
    model = RetrievalModel(
        build_tower(config, data.train), build_loss(config), config.item_norm_exponent
    )
    model.build_for_ids()
    optimizer = make_optimizer(config.optimizer, config.lr, steps_per_epoch, config.lr_decay)
    # Keras 3.15 / TF 2.21 fail ("You must feed a value for placeholder") when a
    # multi-replica strategy runs several steps per execution, even for a plain
    # Dense model; such strategies run one step per execution.
    steps_per_execution = execution_size(steps_per_epoch, config.steps_per_execution)
    if tf.distribute.get_strategy().num_replicas_in_sync > 1:
        steps_per_execution = 1
    # Sparse matmuls (LightGCN) have no XLA kernel, so the step is not jit-compiled.
    model.compile(optimizer=optimizer, steps_per_execution=steps_per_execution, jit_compile=False)
    return model


def execution_size(steps_per_epoch: int, requested: int) -> int:
    """The largest number of steps per execution, at most ``requested``, that divides the epoch.

    Keras runs whole executions: with ``steps_per_epoch=648`` and 32 steps per
    execution it runs 21 × 32 = 672 steps an epoch from an endless dataset. A
    divisor keeps every epoch exactly ``steps_per_epoch`` steps long, so the
    learning-rate schedule, the progress bar and a resumed batch stream agree.

    Example:
        >>> execution_size(648, 32), execution_size(81, 32), execution_size(647, 32)
        (27, 27, 1)
    """
    steps_per_epoch, requested = max(int(steps_per_epoch), 1), max(int(requested), 1)
    candidates = range(min(requested, steps_per_epoch), 0, -1)
    return next(n for n in candidates if steps_per_epoch % n == 0)


# Long by its docstring only (the public entry point): the stages are helpers below.
def train(
    config: TrainConfig,
    data: InteractionData | None = None,
    strategy: tf.distribute.Strategy | None = None,
    callbacks: list[keras.callbacks.Callback] | tuple = (),
    verbose: int | str = "auto",
    initial_epoch: int = 0,
    state_dir: str | Path | None = None,
) -> TrainResult:
    """Trains one model and evaluates it on the test split.

    The baselines (``loss`` ``ials`` or ``ease``) are fitted by
    :func:`~tfdirectspec.training.baseline_trainer.train_baseline` instead, with the
    same result (``strategy``, ``initial_epoch`` and ``state_dir`` do not apply to them).

    With ``valid_fraction > 0`` the reported model is the epoch with the best
    validation NDCG@K (largest K); with 0 (the authors' protocol) it is the
    final model. Test metrics mask train (and validation) items.

    A config not yet resolved (one made in Python, e.g. ``TrainConfig(loss="bpr")``) is
    resolved here as the command line resolves its flags
    (:func:`~tfdirectspec.training.recipes.resolve_config`): the keys it was given win,
    the rest come from the zoo entry of its dataset or its loss's default recipe for
    ``data``. In-memory ``data`` gets a zoo entry only when named like a dataset that has
    one (``load_dataset("citeulike")``), unless ``dataset`` is given.

    Args:
        config: the run's hyper-parameters (validated here).
        data: the data to use (test and validation splits carved by ``test_fraction``,
            ``cutoff`` and ``valid_fraction`` when it has none); loaded from ``config``
            when None.
        strategy: a ``tf.distribute`` strategy (default: the current one); see
            :mod:`tfdirectspec.distributed`. ``config.batch_size`` is the global batch.
        callbacks: extra Keras callbacks (e.g. TensorBoard).
        verbose: passed to ``model.fit``.
        initial_epoch: epochs already done by a checkpoint that a callback (e.g.
            :class:`~tfdirectspec.training.checkpoint.EpochCheckpoint`) restores;
            the batch stream starts after them, so a resumed run sees the
            batches an uninterrupted run would have.
        state_dir: folder where the evaluation keeps its records and best
            weights, so that a resumed run (``initial_epoch > 0``, same folder)
            selects among all its epochs. It is left in place: the caller
            removes it once the result is stored, since a run killed before
            that resumes from the last checkpoint and needs it.
    """
    config.validate()
    started = time.perf_counter()
    config, data = _config_and_data(config, data)
    keras.utils.set_random_seed(config.seed)
    if config.loss in BASELINES:  # iALS, EASE^R: no sampler, no fit; same result and metrics
        from tfdirectspec.training.baseline_trainer import train_baseline

        return train_baseline(config, data, callbacks=callbacks, verbose=verbose)
    check_ks(config.ks, data.num_items)
    warming = bool(config.warm_start) and not initial_epoch
    if warming:
        check_warm_start(config)
    stage_started = time.perf_counter()
    sampler, strategy, model, warm = _sampler_and_model(config, data, strategy, warming)
    steps = sampler.steps_per_epoch
    build_seconds = time.perf_counter() - stage_started
    timer, guard = EpochTimer(), FiniteLossGuard()
    evaluation = _evaluation(config, data, state_dir, initial_epoch)
    # After the evaluation, so the projected epoch time includes it.
    budget = TimeBudget(60.0 * config.time_budget)
    history = model.fit(
        distributed_batches(sampler, strategy, start_step=initial_epoch * steps),
        initial_epoch=initial_epoch,
        epochs=config.epochs,
        steps_per_epoch=steps,
        callbacks=[LazyAdamCatchUp(), timer, guard, evaluation, budget, *callbacks],
        verbose=verbose,
        shuffle=False,  # the sampler draws its own batches
    )
    fit_seconds = time.perf_counter() - stage_started - build_seconds
    evaluation.restore_best()
    # One propagation (LightGCN) for the calibration, the spectrum and the test tables.
    tables_started = time.perf_counter()
    trained = tuple(t.numpy() for t in model.tower.tables(training=False))
    tables_seconds = time.perf_counter() - tables_started
    calibration = _calibrated(config, data, model, evaluation, trained)
    if calibration is not None:  # the trained model, scored with γ*: what reproduces it
        config = dataclasses.replace(
            config, item_norm_exponent=calibration.exponent, calibrate_item_norms=False
        )
    metrics, final_seconds = _final_metrics(
        config, data, model, trained, timer, evaluation, guard, initial_epoch
    )
    final_seconds = {"tables": tables_seconds, **final_seconds}
    if calibration is not None:
        metrics["valid"] = calibration.valid
        metrics["item_norm_calibration"] = calibration.record()
    metrics["stage_seconds"] = {
        "build": build_seconds,  # sampler and model
        "fit": fit_seconds,  # training epochs with their validation and callbacks
        **final_seconds,
    }
    if warm is not None:
        metrics["warm_start"] = warm
    metrics["stopped_by_time_budget"] = budget.stopped_epoch is not None
    metrics["stopped_by_patience"] = evaluation.stopped_epoch is not None
    metrics["wall_seconds"] = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux: the process's peak resident memory so far.
    metrics["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return TrainResult(model, data, metrics, history, guard.failure)


def _config_and_data(
    config: TrainConfig, data: InteractionData | None
) -> tuple[TrainConfig, InteractionData]:
    """The run's data (loaded, or handed and split) and its config resolved for that data."""
    if data is None:
        data = load_data(config)
    else:
        data = _split_in_memory(data, config)
    if not config.resolved:
        config = resolve_for_data(config, data)
    return config, data


def _sampler_and_model(
    config: TrainConfig,
    data: InteractionData,
    strategy: tf.distribute.Strategy | None,
    warming: bool,
) -> tuple[InteractionSampler, tf.distribute.Strategy, RetrievalModel, dict | None]:
    """The sampler, the strategy, the compiled model (warm-started if ``warming``) and
    the warm start's record (None without one)."""
    sampler = sampler_for(config, data)
    strategy = strategy or tf.distribute.get_strategy()
    if is_multi_worker(strategy):
        check_multi_worker(config.time_budget)
    with strategy.scope():
        model = build_model(config, data, sampler.steps_per_epoch)
        # A resumed run restores its checkpoint instead (it began warm already).
        warm = warm_start(model, data, config.warm_start) if warming else None
    return sampler, strategy, model, warm


def _evaluation(
    config: TrainConfig, data: InteractionData, state_dir: str | Path | None, initial_epoch: int
) -> RankingEvaluation:
    """The validation (and test-curve) callback, with its records restored on a resume."""
    evaluation = RankingEvaluation(
        data.train,
        data.valid,
        data.test,
        ks=config.ks,
        every=config.eval_every,
        monitor=f"ndcg@{max(config.ks)}",
        track_test=config.track_test,
        batch_size=config.eval_batch_size,
        state_dir=state_dir,
        patience=config.patience,
        sample_users=config.eval_users or None,
        seed=config.seed,
    )
    if initial_epoch:
        evaluation.restore_state(initial_epoch)
    return evaluation


def _calibrated(
    config: TrainConfig,
    data: InteractionData,
    model: RetrievalModel,
    evaluation: RankingEvaluation,
    trained: tuple[np.ndarray, np.ndarray],
) -> Calibration | None:
    """With ``calibrate_item_norms`` and a selected validation epoch: the exponent ``γ*``
    chosen on validation, set on ``model``; None otherwise (the model is left as it is)."""
    selected = evaluation.has_valid and evaluation.best_weights is not None
    if not (config.calibrate_item_norms and selected):
        return None
    calibration = calibrate_item_norms(
        *trained,
        data.train,
        data.valid,
        ks=config.ks,
        batch_size=config.eval_batch_size,
        sample_users=config.eval_users or None,
        seed=config.seed,
    )
    model.item_norm_exponent = calibration.exponent
    return calibration


def split_record(config: TrainConfig, data: InteractionData) -> dict[str, Any]:
    """How the run's test and validation splits were made (for ``metrics.json``).

    Example:
        >>> from tfdirectspec.data import from_pairs
        >>> split_record(TrainConfig(), from_pairs([[0, 1]], [[0, 2]]))
        {'method': 'random', 'test': {'method': 'file'}, 'valid': None}
    """
    made = data.split_info
    test = made.get("test") or ({"method": "file"} if data.test.nnz else None)
    valid = made.get("valid") or ({"method": "file"} if data.valid.nnz else None)
    return {"method": config.split, "test": test, "valid": valid}


def _split_in_memory(data: InteractionData, config: TrainConfig) -> InteractionData:
    """Handed data with the config's test split (if it has none) and validation split."""
    from tfdirectspec.data.log_schema import parse_time

    cutoff = parse_time(config.cutoff) if config.cutoff is not None else None
    if data.test.nnz == 0 and (config.test_fraction or cutoff is not None):
        data = data.with_test_split(config.test_fraction, config.seed, config.split, cutoff)
    if config.valid_fraction and data.valid.nnz == 0:
        data = data.with_validation(config.valid_fraction, config.seed, config.split)
    return data


def _final_metrics(
    config: TrainConfig,
    data: InteractionData,
    model: RetrievalModel,
    trained: tuple[np.ndarray, np.ndarray],
    timer: EpochTimer,
    evaluation: RankingEvaluation,
    guard: FiniteLossGuard,
    initial_epoch: int = 0,
) -> tuple[dict[str, Any], dict[str, float]]:
    """The run's metrics from the ``trained`` tables (the tower's rows), and the seconds of
    the test evaluation and the spectrum."""
    trained_users, trained_items = trained
    started = time.perf_counter()
    items = np.asarray(scale_item_norms(trained_items, model.item_norm_exponent))  # scoring rows
    test = _test_metrics(config, data, trained_users, items)
    test_seconds = time.perf_counter() - started
    started = time.perf_counter()
    # The spectrum of the trained rows (a calibrated exponent only rescales the item rows).
    erank = effective_ranks(trained_users, trained_items)
    spectrum_seconds = time.perf_counter() - started
    epochs_run = initial_epoch + len(timer.seconds)
    best_epoch, valid, time_to_best = _selected(epochs_run, timer, evaluation, guard)
    steps = evaluation.params.get("steps") if evaluation.params else None
    pairs = (steps or 0) * config.batch_size * len(timer.seconds)  # positives of the steps run
    return {
        "test": test,
        "valid": valid,
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "train_seconds": sum(timer.seconds),
        "seconds_per_epoch": sum(timer.seconds) / max(epochs_run, 1),
        "seconds_per_epoch_median": statistics.median(timer.seconds) if timer.seconds else 0.0,
        "steps_per_epoch": steps,
        "time_to_best_seconds": float(time_to_best),
        "pairs_per_second": pairs / max(sum(timer.seconds), 1e-9),
        "erank": erank,
        "history": evaluation.records,
        "data": {**data.summary(), "split": split_record(config, data)},
        "config": config.to_dict(),
        "failure": guard.failure,
    }, {"test_evaluation": test_seconds, "spectrum": spectrum_seconds}


def _test_metrics(config: TrainConfig, data: InteractionData, users, items) -> dict[str, Any]:
    """The final model's test metrics (``{}`` without a test split)."""
    if not data.test.nnz:
        return {}
    return full_ranking_metrics(
        users,
        items,
        data.test,
        exclude=[data.train, data.valid],  # train ∪ valid, cut to the ranked users
        ks=config.ks,
        batch_size=config.eval_batch_size,
        sample_users=config.eval_users or None,
        seed=config.seed,
    )


def _selected(
    epochs_run: int, timer: EpochTimer, evaluation: RankingEvaluation, guard: FiniteLossGuard
) -> tuple[int, dict[str, Any], float]:
    """The reported epoch, its validation metrics and the wall seconds to reach it.

    With validation: the best evaluated epoch; without (or before any evaluation): the
    last epoch, or the last finite one when the loss went non-finite.
    """
    valid = {}
    best_epoch = epochs_run if guard.failure is None else guard.last_good_epoch
    # Wall time to the best point: the end of its evaluation (without validation: the
    # last evaluation, i.e. the end of training).
    last = evaluation.records[-1]["wall_seconds"] if evaluation.records else sum(timer.seconds)
    time_to_best = last
    if evaluation.has_valid and evaluation.best_weights is not None:
        best_epoch = evaluation.best_epoch
        best_record = next(r for r in evaluation.records if r["epoch"] == best_epoch)
        valid = best_record["valid"]
        time_to_best = best_record["wall_seconds"]
    return best_epoch, valid, time_to_best
