"""Refit: retrain on train ∪ valid for the epoch count chosen on validation, then test.

Model selection on a validation split leaves that split out of training. Once the
hyper-parameters and the number of epochs E* (the best validation epoch) are
chosen, the final model is trained again from scratch on

    R_refit = R_train ∪ R_valid   (binary: max of the two 0/1 matrices)

for exactly E* epochs, with the same seed and hyper-parameters, and evaluated on
the test split, masking R_refit. The test split is read only there: it is never
merged, never used to pick E*. Because ``valid`` was carved out of the original
train split, R_refit is that original split, so a refit equals ``tfdirectspec
train`` with ``valid_fraction = 0`` and ``epochs = E*``.

Usage (what ``tfdirectspec train --valid-fraction 0.1 --refit`` does)::

    selection = train(config, without_test(data))      # valid_fraction > 0
    result = refit_after(selection, config, data)      # train ∪ valid, E* epochs
    result.metrics["test"], result.metrics["selection"]["best_epoch"]
"""

from __future__ import annotations

import dataclasses
from typing import Any

import scipy.sparse as sp

from tfdirectspec.data import InteractionData
from tfdirectspec.parameters import ParameterError
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.trainer import TrainResult, train


def merge_validation(data: InteractionData) -> InteractionData:
    """``data`` with ``valid`` folded into ``train`` (binary union) and an empty ``valid``.

    ``test`` is passed through untouched (the same object).

    Example:
        >>> from tfdirectspec.data import from_pairs
        >>> data = from_pairs([[0, i] for i in range(10)]).with_validation(0.2, seed=1)
        >>> merge_validation(data).summary()["train"], merge_validation(data).summary()["valid"]
        (10, 0)
    """
    merged = data.train.maximum(data.valid).tocsr().astype(data.train.dtype)
    merged.sort_indices()
    empty = sp.csr_matrix(data.train.shape, dtype=data.train.dtype)
    # Times do not follow the merge: the split they served is already made.
    return dataclasses.replace(
        data, train=merged, valid=empty, train_time=None, valid_time=None, test_time=None
    )


def without_test(data: InteractionData) -> InteractionData:
    """``data`` with an empty test matrix: what model selection may see.

    :func:`~tfdirectspec.training.trainer.train` evaluates the test split at
    the end when it is non-empty; handing it this copy makes a selection run
    (a tuning trial, the first run of ``train --refit``) unable to read test.
    """
    empty = sp.csr_matrix(data.test.shape, dtype=data.test.dtype)
    return dataclasses.replace(data, test=empty, test_time=None)


def refit_config(
    config: TrainConfig, epochs: int, item_norm_exponent: float | None = None
) -> TrainConfig:
    """The refit's config: ``epochs`` epochs, no validation split, no test curves, no budget,
    and the item-norm exponent chosen on validation (when the selection calibrated one)."""
    exponent = config.item_norm_exponent if item_norm_exponent is None else item_norm_exponent
    return dataclasses.replace(
        config,
        epochs=int(epochs),
        valid_fraction=0.0,
        track_test=False,
        time_budget=0.0,
        item_norm_exponent=float(exponent),
        calibrate_item_norms=False,
    )


def refit(
    config: TrainConfig,
    data: InteractionData,
    epochs: int,
    callbacks: list | tuple = (),
    verbose: int | str = 0,
    selection: dict[str, Any] | None = None,
) -> TrainResult:
    """Trains ``config`` on ``data.train ∪ data.valid`` for ``epochs`` epochs and tests it.

    Args:
        config: the chosen hyper-parameters (``epochs`` and ``valid_fraction``
            are replaced, see :func:`refit_config`).
        data: the selection's data: train, the validation split to merge, test.
        epochs: the number of epochs chosen on validation (≥ 1).
        callbacks: extra Keras callbacks for the refit run.
        verbose: passed to ``model.fit``.
        selection: what was chosen on validation (e.g. ``{"best_epoch", "valid"}``),
            recorded as ``metrics["selection"]``; its ``item_norm_exponent``, when
            present, is the refit's.

    Returns:
        The refit's :class:`TrainResult`: its model, its test metrics, and
        ``metrics["selection"]`` and ``metrics["refit"] = {"epochs", "train"}``.
    """
    if epochs < 1:
        raise ValueError(f"refit needs at least one epoch, got {epochs}")
    merged = merge_validation(data)
    exponent = (selection or {}).get("item_norm_exponent")
    result = train(
        refit_config(config, epochs, exponent), data=merged, callbacks=callbacks, verbose=verbose
    )
    result.metrics["selection"] = dict(selection or {})
    result.metrics["refit"] = {"epochs": int(epochs), "train": merged.num_train}
    return result


def check_refit(config: TrainConfig) -> None:
    """Raises :class:`InputError` when ``config`` has no validation split to select on."""
    if not config.valid_fraction:
        raise ParameterError(
            "refit",
            "needs valid_fraction > 0 (the epoch is chosen on validation)",
            related=("valid_fraction",),
        )


def refit_after(
    selection: TrainResult, config: TrainConfig, data: InteractionData, **options: Any
) -> TrainResult:
    """``train --refit``: refit for the best validation epoch of a finished selection run.

    Args:
        selection: the validation run (``config.valid_fraction > 0``, best run on
            :func:`without_test` data); its ``best_epoch``, ``valid`` and
            ``epochs_run`` become ``metrics["selection"]``.
        config: the run's config.
        data: the run's data with its test split (train and valid as in the selection).
        options: :func:`refit`'s ``callbacks`` and ``verbose``, for the refit run.

    Returns:
        The refit's :class:`TrainResult` (its test metrics are the run's result).
    """
    check_refit(config)
    m = selection.metrics
    if not m["valid"]:
        raise ParameterError("refit", "has no validation result to choose from")
    record = {
        "best_epoch": m["best_epoch"],
        "valid": m["valid"],
        "epochs_run": m["epochs_run"],
        "valid_fraction": config.valid_fraction,
        "train_seconds": m["train_seconds"],
        "history": m["history"],
        "failure": selection.failure,
        "item_norm_exponent": m["config"]["item_norm_exponent"],
        "item_norm_calibration": m.get("item_norm_calibration"),
    }
    return refit(config, data, m["best_epoch"], selection=record, **options)
