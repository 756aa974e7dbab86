"""Keras callbacks of a training run: epoch timing, ranking evaluation, loss guard, time budget."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import scipy.sparse as sp

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.data.interactions import pair_union
from tfdirectspec.training.ranking_metrics import RankingMetrics, logged
from tfdirectspec.training.run_dir import write_json

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now


class EpochTimer(keras.callbacks.Callback):
    """Wall time of the training steps of each epoch.

    Put it first in the callback list: Keras calls ``on_epoch_end`` in list
    order, so evaluation done by later callbacks is not counted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


class RankingEvaluation(RankingMetrics):
    """:class:`RankingMetrics` with the run's model selection, curves and resumable state.

    On evaluation epochs it writes ``val_<metric>`` (e.g. ``val_ndcg@20``) into the epoch
    logs like :class:`RankingMetrics`, and selects on the same logged value: it keeps the
    weights of the best epoch by ``val_<monitor>`` (what
    ``keras.callbacks.EarlyStopping(monitor="val_ndcg@20", mode="max",
    restore_best_weights=True, patience=...)`` does) and in addition persists them, so a
    resumed run keeps its selection. With ``track_test`` it also records test metrics in
    :attr:`records` and the logs (``test_<metric>``) for curves; those are never used
    for selection.

    With ``state_dir`` it keeps its records and best weights there after every
    evaluation, so that a run resumed from an epoch-end checkpoint continues
    the same selection and curves (:meth:`restore_state`) instead of starting
    them over; ``wall_seconds`` of a resumed run go on from its last restored
    record. :meth:`clear_state` removes the folder.

    Args:
        train: training interactions (masked when ranking).
        valid: validation interactions (may be empty: then no selection).
        test: test interactions, only used with ``track_test``.
        ks: cut-offs.
        every: evaluation period in epochs (the last epoch is always evaluated).
        monitor: validation metric to maximise.
        track_test: also evaluate the test split on the same epochs.
        batch_size: users per evaluation block.
        sample_users: rank only a sample of this many users (None: all); the sample is
            drawn with ``seed``, so every evaluation ranks the same users. The records
            then carry ``<metric>_ci95`` half-widths and ``users_sampled``.
        seed: the seed of the user sample.
        state_dir: folder for the resumable state (None: kept in memory only).
        patience: stop training after this many evaluations in a row without a new
            best validation ``monitor`` (0: never; needs a validation split).
            :attr:`stopped_epoch` then records where.
    """

    #: Best-weight files kept in ``state_dir``: the newest and the one before,
    #: which a checkpoint one epoch behind the last evaluation may still need.
    KEPT_BEST = 2

    def __init__(
        self,
        train: sp.csr_matrix,
        valid: sp.csr_matrix,
        test: sp.csr_matrix,
        ks: tuple[int, ...] = (10, 20),
        every: int = 10,
        monitor: str = "ndcg@20",
        track_test: bool = False,
        batch_size: int = 1024,
        state_dir: str | Path | None = None,
        patience: int = 0,
        sample_users: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            train, valid, ks=ks, every=every, batch_size=batch_size,
            sample_users=sample_users, seed=seed,
        )  # fmt: skip
        self.patience = int(patience)
        self.stopped_epoch: int | None = None
        self.test, self.monitor, self.track_test = test, monitor, track_test
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.records: list[dict] = []
        self.best_epoch = 0
        self.best_value = -math.inf
        self.best_weights: list[np.ndarray] | None = None
        self._elapsed = 0.0
        self._seen: sp.csr_matrix | None = None  # train ∪ valid, built on first use

    @property
    def has_valid(self) -> bool:
        return self.valid.nnz > 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._clock = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.due(epoch):
            return
        logs = {} if logs is None else logs
        done = epoch + 1
        wall = self._elapsed + time.perf_counter() - self._clock
        record: dict = {"epoch": done, "wall_seconds": wall}
        if "loss" in logs:
            record["loss"] = float(logs["loss"])
        tables = self.model_tables()
        if self.has_valid:
            record["valid"] = self.last = self.rank(self.valid, self.train, tables)
            logs.update({f"val_{k}": v for k, v in self.last.items() if logged(k)})
            value = logs[f"val_{self.monitor}"]  # the logged value stock callbacks see
            if value > self.best_value:
                self.best_value = value
                self.best_epoch = done
                self.best_weights = [w.numpy() for w in self.model.trainable_weights]
            elif self.patience and self._evaluations_since_best(done) >= self.patience:
                self.stopped_epoch = done
                self.model.stop_training = True
        if self.track_test and self.test.nnz:
            if self._seen is None:
                self._seen = pair_union(self.train, self.valid)
            record["test"] = self.rank(self.test, self._seen, tables)
            # Shown in the progress line and History for curves; never monitored.
            logs.update(
                {
                    f"test_{k}": v
                    for k, v in record["test"].items()
                    if k.startswith(("recall@", "ndcg@")) and logged(k)
                }
            )
        self.records.append(record)
        self._save_state()

    def _evaluations_since_best(self, epoch: int) -> int:
        """Validation evaluations after the best one, ``epoch``'s included."""
        later = [r for r in self.records if "valid" in r and r["epoch"] > self.best_epoch]
        return len(later) + 1  # the current record is not in self.records yet

    def _save_state(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.best_weights is not None:
            path = self._best_file(self.best_epoch)
            if not path.exists():
                tmp = path.with_name(f".{path.name}")  # np.savez keeps a ".npz" suffix
                np.savez(tmp, *self.best_weights)
                os.replace(tmp, path)
            for old in sorted(self.state_dir.glob("best-*.npz"), key=_epoch_of)[: -self.KEPT_BEST]:
                old.unlink()
        # The best epoch is derived from the records on restore.
        write_json(self.state_dir / "evaluation.json", {"records": self.records})

    def _best_file(self, epoch: int) -> Path:
        assert self.state_dir is not None
        return self.state_dir / f"best-{epoch}.npz"

    def restore_state(self, epoch: int) -> None:
        """Takes up the records and selection saved in ``state_dir`` up to ``epoch``.

        Call it before ``fit`` resumes from the checkpoint of ``epoch``. Records
        of later epochs (evaluated after that checkpoint was written) are
        dropped: the resumed run evaluates those epochs again.

        Raises:
            ValueError: the state names a best epoch whose weights are missing.
        """
        file = None if self.state_dir is None else self.state_dir / "evaluation.json"
        if file is None or not file.is_file():
            return
        records = json.loads(file.read_text())["records"]
        self.records = [r for r in records if r["epoch"] <= epoch]
        self._elapsed = self.records[-1]["wall_seconds"] if self.records else 0.0
        self.best_epoch, self.best_value, self.best_weights = 0, -math.inf, None
        for record in self.records:
            value = record.get("valid", {}).get(self.monitor)
            if value is not None and value > self.best_value:
                self.best_epoch, self.best_value = record["epoch"], value
        if self.best_epoch:
            path = self._best_file(self.best_epoch)
            if not path.is_file():
                raise ValueError(f"{path}: missing weights of the best epoch {self.best_epoch}")
            with np.load(path) as saved:
                self.best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]

    def clear_state(self) -> None:
        """Deletes ``state_dir`` (the run is complete)."""
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def restore_best(self) -> None:
        """Loads the best validation weights into the model (no-op without validation)."""
        if self.best_weights is not None:
            for variable, value in zip(
                self.model.trainable_weights, self.best_weights, strict=True
            ):
                variable.assign(value)


class FiniteLossGuard(keras.callbacks.Callback):
    """Stops training on a NaN or Inf loss and rolls back to the last good epoch.

    The weights at the end of each epoch whose loss was finite are kept in
    memory; on a non-finite batch loss training stops, those weights are
    restored, and :attr:`failure` says where it happened.
    """

    def __init__(self) -> None:
        super().__init__()
        self.failure: str | None = None
        self.last_good_epoch = 0
        self._good: list[np.ndarray] | None = None
        self._epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._good = [w.numpy() for w in self.model.trainable_weights]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = None if logs is None else logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.failure = (
                f"non-finite loss ({float(loss)}) in epoch {self._epoch + 1}, batch {batch + 1}; "
                f"kept the weights of epoch {self.last_good_epoch}"
            )
            for variable, value in zip(self.model.trainable_weights, self._good, strict=True):
                variable.assign(value)
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.failure is None:
            self._good = [w.numpy() for w in self.model.trainable_weights]
            self.last_good_epoch = epoch + 1


class TimeBudget(keras.callbacks.Callback):
    """Ends training at an epoch boundary so the run stays within a wall-time budget.

    After each epoch it projects the time of one more epoch (the slowest epoch
    so far, evaluation included, since Keras runs this callback after the
    evaluation callbacks placed before it) and stops when that would overrun
    ``seconds`` counted from the start of training. The model is then the last
    complete epoch's, evaluated as usual; :attr:`stopped_epoch` records where.

    Args:
        seconds: the budget for the training loop (``0`` = unlimited).
    """

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = float(seconds)
        self.stopped_epoch: int | None = None
        self._start = self._last = 0.0
        self._slowest = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start = self._last = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        self._slowest = max(self._slowest, now - self._last)
        self._last = now
        last = epoch + 1 >= self.params.get("epochs", 0)
        if self.seconds and not last and now - self._start + self._slowest > self.seconds:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True


def _epoch_of(path: Path) -> int:
    """Epoch of a ``best-<epoch>.npz`` file."""
    return int(path.stem.split("-", 1)[1])
