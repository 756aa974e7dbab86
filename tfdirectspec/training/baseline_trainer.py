"""Training runs of the classic baselines, iALS and EASE^R, under the embedding losses' protocol.

:func:`~tfdirectspec.training.trainer.train` hands a config whose ``loss`` is one of
:data:`~tfdirectspec.training.config.BASELINES` to :func:`train_baseline`, which returns
the same :class:`~tfdirectspec.training.trainer.TrainResult` with the same
``metrics.json`` keys, so ``tfdirectspec train``, ``--refit``, ``tune`` and the run
directory treat them like any other model:

* **iALS** (``--loss ials``; :mod:`tfdirectspec.baselines.ials`). An *epoch* is one ALS
  iteration (a solve for every user, then for every item), so ``--epochs`` counts
  iterations and ``--eval-every``, ``--patience``, the selection of the best validation
  epoch and the refit for that many iterations are those of the embedding losses.
  ``--dim`` is the number of factors, ``--reg`` λ, ``--alpha`` the confidence weight
  (``c = 1 + α`` on observed pairs; DirectSpec's α is a filter strength: each loss reads
  its own), ``--seed`` the initialisation, ``--num-threads`` implicit's threads. The
  factors become the tables of an MF tower (:class:`~tfdirectspec.towers.MFTower`), so the
  saved model, ``evaluate``, ``export`` (the same SavedModel signatures as MF) and
  ``recommend`` are MF's.
* **EASE^R** (``--loss ease``; :mod:`tfdirectspec.baselines.ease`). One closed-form fit
  (a single *epoch*: ``--epochs`` does not apply), ``--reg`` is λ. Validation and test
  rank every item for each user in blocks, ``X_block · B`` (a sparse × dense product: a
  block costs its interactions × items). The saved model is an
  :class:`~tfdirectspec.models.EaseModel` (``B``, items² float32: 1.15 GB for CiteULike).

Timing keys of ``metrics.json`` (embedding runs record the same):
``time_to_best_seconds``, wall seconds from the start of training to the end of the
evaluation that found the best validation score (without validation: to the end of
training), and ``pairs_per_second``, train pairs processed per second of training
(evaluation excluded): ``nnz × iterations / seconds`` for iALS (each iteration reads every
pair once), ``nnz / fit seconds`` for EASE (its fit reads each pair once, to build ``XᵀX``).

Keras callbacks passed in (the tuner's :class:`~tfdirectspec.tuning.budget.TrialBudget` and
:class:`~tfdirectspec.tuning.early_stopping.HopelessTrialStop`) see the same calls as
under ``fit``: ``on_train_begin``, then per iteration ``on_epoch_begin`` and
``on_epoch_end`` with ``val_*`` logs on evaluated iterations; they may set
``model.stop_training`` or lower ``params["epochs"]``.

Example:
    >>> from tfdirectspec.data import from_pairs
    >>> from tfdirectspec.training.config import TrainConfig
    >>> data = from_pairs([[u, (u * 7 + j) % 40] for u in range(60) for j in range(8)])
    >>> config = TrainConfig(dataset=None, data_dir="d", loss="ease", reg=5.0, epochs=1)
    >>> result = train_baseline(config, data.with_validation(0.2, seed=0))
    >>> result.metrics["best_epoch"], sorted(result.metrics["valid"])[:2]
    (1, ['hitrate@10', 'hitrate@20'])
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.data import InteractionData
from tfdirectspec.evaluation import effective_ranks, full_ranking_metrics
from tfdirectspec.parameters import check_ks
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.trainer import TrainResult

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now


def train_baseline(
    config: TrainConfig,
    data: InteractionData,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = 0,
) -> TrainResult:
    """Fits iALS or EASE^R, selects on validation, tests; the result of a training run.

    Args:
        config: a config with ``loss`` ``"ials"`` or ``"ease"`` (checked here).
        data: the run's data (with its validation split when ``valid_fraction > 0``).
        callbacks: Keras callbacks driven as ``fit`` would (see the module docstring).
        verbose: non-zero prints one line per iteration to stderr.
    """
    config.check_complete()
    started = time.perf_counter()
    check_ks(config.ks, data.num_items)
    train = sp.csr_matrix(data.train, dtype=np.float32)
    train.sum_duplicates()
    train.data[:] = 1.0
    fit = _fit_ials if config.loss == "ials" else _fit_ease
    metrics, model = fit(config, data, train, list(callbacks), verbose)
    metrics["wall_seconds"] = time.perf_counter() - started
    metrics["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    history = keras.callbacks.History()
    history.history = {"loss": [r["loss"] for r in metrics["history"] if "loss" in r]}
    return TrainResult(model, data, metrics, history, None)


class _Driver:
    """Calls Keras callbacks around a hand-written training loop."""

    def __init__(self, callbacks: list, model: keras.Model, epochs: int) -> None:
        self.callbacks, self.model = callbacks, model
        self.params = {"epochs": int(epochs), "steps": 1, "verbose": 0}
        model.stop_training = False
        for callback in callbacks:
            callback.set_params(self.params)  # shared: a callback may lower "epochs"
            callback.set_model(model)

    @property
    def epochs(self) -> int:
        return int(self.params["epochs"])

    def call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)


def _rank(config: TrainConfig, users, items, target, exclude) -> dict[str, float]:
    return full_ranking_metrics(
        users,
        items,
        target,
        exclude=exclude,
        ks=config.ks,
        batch_size=config.eval_batch_size,
        sample_users=config.eval_users or None,
        seed=config.seed,
    )


def _logged(valid: dict[str, float]) -> dict[str, float]:
    return {f"val_{k}": v for k, v in valid.items() if "@" in k and not k.endswith("_ci95")}


def _fit_ials(config, data, train, callbacks, verbose) -> tuple[dict[str, Any], keras.Model]:
    als, model, build_seconds = _ials_model(config, data)
    driver = _Driver(callbacks, model, config.epochs)
    fit, fit_seconds = _ials_iterations(config, data, train, als, model, driver, verbose)
    if fit.best["tables"] is None:  # no validation result: the last iteration's factors
        last = (als.user_factors, als.item_factors)
        fit.best.update(epoch=fit.done, tables=last, wall=fit_seconds)
    users, items = fit.best["tables"]
    model.tower.user_embeddings.assign(users)
    model.tower.item_embeddings.assign(items)
    final_started = time.perf_counter()
    test = _rank(config, users, items, data.test, [data.train, data.valid]) if data.test.nnz else {}
    test_seconds = time.perf_counter() - final_started
    has_valid = data.valid.nnz > 0
    metrics = _common(config, data, fit.records, fit.seconds, fit.best, has_valid, test)
    metrics["erank"] = effective_ranks(users, items)
    metrics["pairs_per_second"] = train.nnz * len(fit.seconds) / max(sum(fit.seconds), 1e-9)
    metrics["stopped_by_patience"] = fit.stopped_by_patience
    metrics["stopped_by_time_budget"] = bool(model.stop_training) and not fit.stopped_by_patience
    metrics["stage_seconds"] = {
        "build": build_seconds,
        "fit": fit_seconds,
        "test_evaluation": test_seconds,
    }
    return metrics, model


def _ials_model(config: TrainConfig, data: InteractionData):
    """The ALS solver, the MF model its factors become, and the seconds building them."""
    from tfdirectspec.baselines.ials import IALS
    from tfdirectspec.losses import IALSLoss
    from tfdirectspec.models import RetrievalModel
    from tfdirectspec.towers import MFTower

    build_started = time.perf_counter()
    als = IALS(config.dim, config.reg, config.alpha, config.seed, config.num_threads)
    model = RetrievalModel(
        MFTower(data.num_users, data.num_items, config.dim, seed=config.seed),
        IALSLoss(alpha=config.alpha, reg=config.reg),
    )
    model.build_for_ids()
    return als, model, time.perf_counter() - build_started


@dataclasses.dataclass
class _IALSFit:
    """How far an iALS fit got: its iterations, their records and the best validation point."""

    done: int = 0
    records: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    best: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"value": -np.inf, "epoch": 0, "tables": None, "wall": 0.0}
    )
    since_best: int = 0
    stopped_by_patience: bool = False


def _ials_iterations(config, data, train, als, model, driver, verbose) -> tuple[_IALSFit, float]:
    """The ALS iterations, evaluated as ``fit`` would; the fit's state and its seconds."""
    monitor = f"ndcg@{max(config.ks)}"
    has_valid = data.valid.nnz > 0
    fit = _IALSFit()
    fit_started = time.perf_counter()
    driver.call("on_train_begin", {})
    while fit.done < driver.epochs and not model.stop_training:
        driver.call("on_epoch_begin", fit.done, {})
        step_started = time.perf_counter()
        loss = als.step(train)
        fit.seconds.append(time.perf_counter() - step_started)
        fit.done += 1
        done = fit.done
        logs: dict[str, float] = {"loss": loss}
        record: dict[str, Any] = {"epoch": done, "loss": loss}
        if done % config.eval_every == 0 or done >= driver.epochs:
            if has_valid:
                logs.update(_ials_validation(config, data, als, model, fit, record, fit_started))
            record["wall_seconds"] = time.perf_counter() - fit_started
            fit.records.append(record)
        if verbose:
            shown = f" {monitor} {logs['val_' + monitor]:.4f}" if "val_" + monitor in logs else ""
            print(f"ials iteration {done}/{driver.epochs}: loss {loss:.5g}{shown} "
                  f"({fit.seconds[-1]:.2f} s)", file=sys.stderr)  # fmt: skip
        driver.call("on_epoch_end", done - 1, logs)
    driver.call("on_train_end", {})
    return fit, time.perf_counter() - fit_started


def _ials_validation(config, data, als, model, fit: _IALSFit, record, fit_started) -> dict:
    """Evaluates the factors on validation into ``record``; keeps the best, applies patience.

    Returns the ``val_*`` logs of the evaluation.
    """
    monitor = f"ndcg@{max(config.ks)}"
    valid = record["valid"] = _rank(
        config, als.user_factors, als.item_factors, data.valid, data.train
    )
    if valid[monitor] > fit.best["value"]:
        tables = (als.user_factors.copy(), als.item_factors.copy())
        fit.best.update(value=valid[monitor], epoch=fit.done, tables=tables)
        fit.best["wall"] = time.perf_counter() - fit_started
        fit.since_best = 0
    else:
        fit.since_best += 1
        if config.patience and fit.since_best >= config.patience:
            model.stop_training = fit.stopped_by_patience = True
    return _logged(valid)


def _fit_ease(config, data, train, callbacks, verbose) -> tuple[dict[str, Any], keras.Model]:
    from tfdirectspec.baselines.ease import ease_item_table
    from tfdirectspec.models import EaseModel

    monitor = f"ndcg@{max(config.ks)}"
    fit_started = time.perf_counter()
    table = ease_item_table(train, config.reg)  # Bᵀ, a view of the C-ordered B
    seconds = [time.perf_counter() - fit_started]
    if verbose:
        print(f"ease: fit {data.num_items} items, λ {config.reg:g} "
              f"({seconds[0]:.1f} s)", file=sys.stderr)  # fmt: skip
    # The callbacks only read and set stop_training; the Keras model is built at the end.
    driver = _Driver(callbacks, keras.Model(), 1)
    driver.call("on_train_begin", {})
    driver.call("on_epoch_begin", 0, {})
    has_valid = data.valid.nnz > 0
    record: dict[str, Any] = {"epoch": 1}
    logs: dict[str, float] = {}
    best = {"value": -np.inf, "epoch": 1, "tables": None, "wall": seconds[0]}
    if has_valid:
        valid = record["valid"] = _rank(config, train, table, data.valid, data.train)
        logs.update(_logged(valid))
        best.update(value=valid[monitor], wall=time.perf_counter() - fit_started)
    record["wall_seconds"] = time.perf_counter() - fit_started
    driver.call("on_epoch_end", 0, logs)
    driver.call("on_train_end", {})
    fit_seconds = time.perf_counter() - fit_started
    final_started = time.perf_counter()
    test = _rank(config, train, table, data.test, [data.train, data.valid]) if data.test.nnz else {}
    test_seconds = time.perf_counter() - final_started
    weights = tf.constant(table.T)  # B as a tensor; the NumPy copy is freed before the
    del table  # model's variable is made from it, so two copies at most exist at a time
    model = EaseModel(data.num_items, reg=config.reg, weights=weights)
    del weights
    metrics = _common(config, data, [record], seconds, best, has_valid, test)
    metrics["erank"] = {}  # no embedding tables
    metrics["pairs_per_second"] = train.nnz / max(seconds[0], 1e-9)
    metrics["stopped_by_patience"] = False
    metrics["stopped_by_time_budget"] = False
    metrics["stage_seconds"] = {"fit": fit_seconds, "test_evaluation": test_seconds}
    return metrics, model


def _common(config, data, records, seconds, best, has_valid, test) -> dict[str, Any]:
    """The ``metrics.json`` keys every run has (as :func:`trainer._final_metrics` writes them)."""
    valid = {}
    if has_valid:
        valid = next(r["valid"] for r in records if r["epoch"] == best["epoch"])
    return {
        "test": test,
        "valid": valid,
        "best_epoch": int(best["epoch"]),
        "epochs_run": len(seconds),
        "train_seconds": float(sum(seconds)),
        "seconds_per_epoch": float(sum(seconds)) / max(len(seconds), 1),
        "seconds_per_epoch_median": statistics.median(seconds) if seconds else 0.0,
        "steps_per_epoch": 1,
        "time_to_best_seconds": float(best["wall"]),
        "history": records,
        "data": data.summary(),
        "config": config.to_dict(),
        "failure": None,
    }
