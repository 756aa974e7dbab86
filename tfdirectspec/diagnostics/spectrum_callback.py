"""``SpectrumSummary``: a Keras callback that writes the embedding spectrum to TensorBoard.

The statistics themselves (singular values, effective ranks, condition number,
alignment, uniformity) are computed by :func:`tfdirectspec.evaluation.spectrum_stats`;
this module only decides when to compute them and how they appear in TensorBoard.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.evaluation.spectrum import (
    SpectrumStats,
    normalised,
    sample_pairs,
    sample_rows,
    spectrum_stats,
)
from tfdirectspec.parameters import check_positive

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now

#: Scalar tags written by :class:`SpectrumSummary`, in order.
SCALAR_TAGS = (
    "spectrum/erank_user",
    "spectrum/erank_item",
    "spectrum/erank_all",
    "spectrum/condition_all",
    "spectrum/alignment",
    "spectrum/uniformity",
)
HISTOGRAM_TAG = "spectrum/singular_values_all"
IMAGE_TAG = "spectrum/plot"


class SpectrumSummary(keras.callbacks.Callback):
    """Writes the embedding spectrum to TensorBoard every ``every`` epochs.

    The model must have a ``tables()`` method returning ``(user_table, item_table)``
    (:class:`~tfdirectspec.models.RetrievalModel`). At the end of every ``every``-th epoch
    and of the last epoch, it writes to ``<logdir>/<subdir>`` (a TensorBoard run named
    ``spectrum`` by default), at step ``epoch`` (0-based, the step the Keras ``TensorBoard``
    callback uses for ``epoch_loss``, so curves line up):

    - scalars ``spectrum/erank_user``, ``spectrum/erank_item``, ``spectrum/erank_all``,
      ``spectrum/condition_all``, ``spectrum/alignment`` (omitted without training pairs),
      ``spectrum/uniformity`` (mean of users' and items'), plus
      ``spectrum/uniformity_user`` and ``spectrum/uniformity_item``;
    - histogram ``spectrum/singular_values_all`` of ``σ_k / σ_1`` of ``[U; I]``;
    - image ``spectrum/plot``: ``σ_k / σ_1`` of users and items against ``k``, log scale.

    Each evaluation is also kept in :attr:`records` (with ``epoch`` = epochs completed)
    and its wall time in :attr:`seconds`.

    Args:
        logdir: the run's TensorBoard folder (e.g. ``Run.logdir``).
        every: period in epochs (the last epoch is always written).
        train: training interactions (CSR) for the alignment, or a zero-argument callable
            returning them (called once at the start of training), or None (no alignment).
        num_pairs: training pairs in the fixed alignment sample.
        sample_size: users and items in the fixed uniformity samples.
        seed: seed of both samples.
        subdir: run folder under ``logdir``; None keeps records in memory only.
        image: also write the ``spectrum/plot`` image (the costliest part, ~0.1–0.2 s).
        record_initial: also compute the statistics of the initial tables at the start of
            training and keep them as record ``epoch = 0`` (not written to TensorBoard).

    Example:
        >>> cb = SpectrumSummary(writer.logdir, every=10, train=data.train)  # doctest: +SKIP
        >>> tensorboard = keras.callbacks.TensorBoard(writer.logdir)  # doctest: +SKIP
        >>> train(config, data=data, callbacks=[tensorboard, cb])  # doctest: +SKIP
    """

    def __init__(
        self,
        logdir: str | Path | None,
        every: int = 10,
        train: sp.spmatrix | Callable[[], sp.spmatrix] | None = None,
        num_pairs: int = 4096,
        sample_size: int = 2048,
        seed: int = 0,
        subdir: str | None = "spectrum",
        image: bool = True,
        record_initial: bool = False,
    ) -> None:
        super().__init__()
        check_positive("spectrum_every", int(every))
        self.logdir = None if logdir is None or subdir is None else Path(logdir) / subdir
        self.every = int(every)
        self.train = train
        self.num_pairs, self.sample_size, self.seed = int(num_pairs), int(sample_size), seed
        self.image = image
        self.record_initial = record_initial
        self.records: list[dict] = []
        self.seconds: list[float] = []
        self._writer = None
        self._pairs: np.ndarray | None = None
        self._user_rows: np.ndarray | None = None
        self._item_rows: np.ndarray | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        users, items = self.model.tables()
        train = self.train() if callable(self.train) else self.train
        # Fixed samples: the curves then move only because the embeddings do.
        self._pairs = None if train is None else sample_pairs(train, self.num_pairs, self.seed)
        self._user_rows = sample_rows(users.shape[0], self.sample_size, self.seed)
        self._item_rows = sample_rows(items.shape[0], self.sample_size, self.seed + 1)
        if self.logdir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.logdir))
        if self.record_initial:
            self.records.append({"epoch": 0, **self.compute().as_record()})

    def compute(self) -> SpectrumStats:
        """Statistics of the model's current tables with the callback's fixed samples."""
        users, items = self.model.tables()
        return spectrum_stats(users, items, self._pairs, self._user_rows, self._item_rows)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        done = epoch + 1
        if done % self.every and done != self.params.get("epochs"):
            return
        start = time.perf_counter()
        stats = self.compute()
        self.records.append({"epoch": done, **stats.as_record()})
        if self._writer is not None:
            self._write(stats, step=epoch)
        self.seconds.append(time.perf_counter() - start)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.flush()

    def _write(self, stats: SpectrumStats, step: int) -> None:
        with self._writer.as_default(step=step):
            for tag in SCALAR_TAGS:
                value = getattr(stats, tag.removeprefix("spectrum/"))
                if not math.isnan(value):
                    tf.summary.scalar(tag, value)
            tf.summary.scalar("spectrum/uniformity_user", stats.uniformity_user)
            tf.summary.scalar("spectrum/uniformity_item", stats.uniformity_item)
            tf.summary.histogram(
                HISTOGRAM_TAG,
                normalised(stats.sigma_all),
                buckets=min(30, len(stats.sigma_all)),
                description="σ_k / σ_1 of the stacked user and item tables",
            )
            if self.image:
                from tfdirectspec.diagnostics.plots import figure_png, spectrum_figure

                figure = spectrum_figure(
                    {"users": stats.sigma_user, "items": stats.sigma_item},
                    title=f"epoch {step + 1}: erank users {stats.erank_user:.1f}, "
                    f"items {stats.erank_item:.1f}",
                    figsize=(5.0, 3.5),
                )
                png = figure_png(figure, dpi=80)
                tf.summary.image(IMAGE_TAG, tf.image.decode_png(png, channels=4)[None])
        self._writer.flush()
