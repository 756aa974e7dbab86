"""Spectrum statistics of the embedding tables and the ``SpectrumSummary`` Keras callback.

Everything here is computed without a dense ``users × items`` (or ``n × n``) matrix:

- singular values of the user table ``U``, the item table ``I`` and of both stacked
  ``[U; I]`` come from the ``d × d`` Gram matrices ``UᵀU``, ``IᵀI`` and ``UᵀU + IᵀI``
  (:mod:`tfdirectspec.evaluation.spectrum`);
- the *normalised* singular values are ``σ_k / σ_1`` (largest = 1), the quantity the
  paper plots; the effective rank is ``exp(−Σ p_k log p_k)``, ``p_k = σ_k / Σσ``;
- ``condition_all = σ_max / σ_min`` of ``[U; I]``. Going through the Gram matrix does not
  resolve ``σ < 1e-8 · σ_max``, so the ratio is capped at ``1e8`` (:data:`MAX_CONDITION`);
- alignment and uniformity (Wang & Isola, 2020) on L2-normalised rows ``x̂ = x / ‖x‖``:

      alignment  = mean_{(u, i) ∈ P} ‖û − î‖²          (P: a fixed sample of training pairs)
      uniformity(X) = log mean_{j ≠ k} exp(−2 ‖x̂_j − x̂_k‖²)   (over a fixed row sample of X)
      uniformity = ½ (uniformity(U) + uniformity(I))

  Alignment lies in ``[0, 4]`` (lower: positives closer). Uniformity lies in ``[−8, 0]``:
  0 when all rows coincide (complete collapse), about −4 for rows spread uniformly over a
  high-dimensional sphere (lower: more uniform). It needs only the ``m × m`` Gram of an
  ``m``-row sample (``m`` = 2048 by default), since ``‖x̂_j − x̂_k‖² = 2 − 2 x̂_j·x̂_k``.

The callback writes these to TensorBoard (see :class:`SpectrumSummary` for the tags).

The matrix products (Grams, alignment, uniformity) run as TensorFlow ops in float64, not
through NumPy: inside a training process NumPy's BLAS threads compete with TensorFlow's
thread pool, which made the same statistics 10-40 times slower on a 2-core machine. Only
the ``d × d`` eigenvalue problem goes to NumPy
(:mod:`tfdirectspec.evaluation.spectrum`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.errors import InputError

# Private to the evaluation module; reusing it lets the stacked table's spectrum come from
# UᵀU + IᵀI without a third pass or a concatenated copy.
from tfdirectspec.evaluation.spectrum import effective_rank, singular_values_from_gram

__all__ = [
    "MAX_CONDITION",
    "SpectrumStats",
    "SpectrumSummary",
    "alignment",
    "normalised",
    "sample_pairs",
    "sample_rows",
    "spectrum_stats",
    "uniformity",
]

#: Cap of ``condition_all``: the Gram route resolves ``σ`` only down to ~1e-8 ``σ_max``.
MAX_CONDITION = 1e8

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


def normalised(sigma) -> np.ndarray:
    """Singular values divided by the largest one (all zeros stay zeros).

    Example:
        >>> normalised([4.0, 2.0, 1.0]).tolist()
        [1.0, 0.5, 0.25]
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    top = sigma.max() if sigma.size else 0.0
    return sigma / top if top > 0 else np.zeros_like(sigma)


#: Rows cast to float64 at a time for the Gram: bounds the temporary copy.
_CHUNK_ROWS = 65536


def _gram(table) -> np.ndarray:
    """``tableᵀ table`` in float64 (TensorFlow ops, accumulated over row chunks)."""
    table = tf.convert_to_tensor(table)
    gram = tf.zeros([table.shape[1], table.shape[1]], tf.float64)
    for start in range(0, table.shape[0], _CHUNK_ROWS):
        chunk = tf.cast(table[start : start + _CHUNK_ROWS], tf.float64)
        gram += tf.linalg.matmul(chunk, chunk, transpose_a=True)
    return gram.numpy()


def _unit_rows(x) -> tf.Tensor:
    """Rows scaled to unit L2 norm, in float64; zero rows stay zero."""
    return tf.math.l2_normalize(tf.cast(x, tf.float64), axis=1)


def alignment(users, items, pairs: np.ndarray) -> float:
    """``mean ‖û_u − î_i‖²`` over the ``(u, i)`` rows of ``pairs`` (normalised rows).

    Args:
        users: ``[U, d]`` user table.
        items: ``[I, d]`` item table.
        pairs: ``[P, 2]`` int array of (user index, item index); ``P ≥ 1``.

    Example:
        >>> import numpy as np
        >>> alignment(np.eye(2), np.eye(2), np.array([[0, 0], [0, 1]]))
        1.0
    """
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise InputError(f"pairs must be a non-empty [P, 2] array, got shape {pairs.shape}")
    u = _unit_rows(tf.gather(users, pairs[:, 0]))
    i = _unit_rows(tf.gather(items, pairs[:, 1]))
    return float(tf.reduce_mean(tf.reduce_sum(tf.square(u - i), axis=1)))


def uniformity(table, rows: np.ndarray | None = None) -> float:
    """``log mean_{j≠k} exp(−2‖x̂_j − x̂_k‖²)`` over distinct pairs of the selected rows.

    Computed from the ``m × m`` Gram of the ``m`` selected normalised rows with a stable
    log-sum-exp, as ``‖x̂_j − x̂_k‖² = 2 − 2 x̂_j·x̂_k``.

    Args:
        table: ``[n, d]`` embedding table.
        rows: indices of the rows to use (default: all; keep ``m`` to a few thousand;
            an empty sample gives ``nan``).

    Returns:
        A float in ``[−8, 0]``; ``nan`` for fewer than two rows.

    Example:
        >>> import numpy as np
        >>> round(uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])), 6)  # antipodal: ‖·‖² = 4
        -8.0
    """
    x = tf.convert_to_tensor(table)
    if rows is not None:
        x = tf.gather(x, np.asarray(rows, dtype=np.int64))
    m = int(x.shape[0])
    if m < 2:
        return math.nan
    x = _unit_rows(x)
    logits = -2.0 * (2.0 - 2.0 * tf.linalg.matmul(x, x, transpose_b=True))
    # Distinct pairs only (DirectAU's convention): the diagonal is left out.
    logits = tf.linalg.set_diag(logits, tf.fill([m], tf.constant(-np.inf, tf.float64)))
    return float(tf.reduce_logsumexp(logits)) - math.log(m * (m - 1))


def sample_pairs(train: sp.spmatrix, size: int, seed: int) -> np.ndarray:
    """``size`` training pairs drawn uniformly without replacement (all if fewer).

    Returns:
        ``[min(size, nnz), 2]`` int64 array of (user, item), sorted by pair order.
    """
    csr = sp.csr_matrix(train)
    nnz = csr.nnz
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(nnz, size=min(size, nnz), replace=False)) if nnz else []
    picks = np.asarray(picks, dtype=np.int64)
    rows = np.searchsorted(csr.indptr, picks, side="right") - 1
    return np.stack([rows, csr.indices[picks].astype(np.int64)], axis=1)


def sample_rows(num_rows: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(size, num_rows)`` distinct rows drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_rows, size=min(size, num_rows), replace=False))


@dataclasses.dataclass(frozen=True)
class SpectrumStats:
    """Spectrum statistics of one ``(user_table, item_table)`` pair.

    Attributes:
        sigma_user, sigma_item, sigma_all: descending singular values of ``U``, ``I`` and
            ``[U; I]`` (float64).
        erank_user, erank_item, erank_all: their effective ranks.
        condition_all: ``σ_max / σ_min`` of ``[U; I]``, capped at :data:`MAX_CONDITION`.
        alignment: see the module docstring; ``nan`` when no pairs were given.
        uniformity_user, uniformity_item, uniformity: see the module docstring.
    """

    sigma_user: np.ndarray
    sigma_item: np.ndarray
    sigma_all: np.ndarray
    erank_user: float
    erank_item: float
    erank_all: float
    condition_all: float
    alignment: float
    uniformity_user: float
    uniformity_item: float
    uniformity: float

    def scalars(self) -> dict[str, float]:
        """The scalar statistics by TensorBoard tag (``spectrum/...``)."""
        return {
            "spectrum/erank_user": self.erank_user,
            "spectrum/erank_item": self.erank_item,
            "spectrum/erank_all": self.erank_all,
            "spectrum/condition_all": self.condition_all,
            "spectrum/alignment": self.alignment,
            "spectrum/uniformity": self.uniformity,
        }

    def as_record(self) -> dict[str, float]:
        """JSON-friendly scalars (no arrays), keys without the ``spectrum/`` prefix."""
        return {
            "erank_user": self.erank_user,
            "erank_item": self.erank_item,
            "erank_all": self.erank_all,
            "condition_all": self.condition_all,
            "alignment": self.alignment,
            "uniformity_user": self.uniformity_user,
            "uniformity_item": self.uniformity_item,
            "uniformity": self.uniformity,
        }


def spectrum_stats(
    users,
    items,
    pairs: np.ndarray | None = None,
    user_rows: np.ndarray | None = None,
    item_rows: np.ndarray | None = None,
) -> SpectrumStats:
    """All spectrum statistics of a pair of tables, from ``d × d`` and ``m × m`` Grams.

    Args:
        users: ``[U, d]`` user table (NumPy or ``tf.Tensor``).
        items: ``[I, d]`` item table.
        pairs: ``[P, 2]`` (user, item) training pairs for the alignment (None: ``nan``).
        user_rows, item_rows: row samples for the uniformity (None: all rows; pass a
            sample for tables beyond a few thousand rows, the cost is ``O(m² d)``; pass
            ``[]`` to skip it: ``nan``).

    Example:
        >>> import numpy as np
        >>> s = spectrum_stats(np.eye(3)[:2], np.eye(3)[2:])
        >>> round(s.erank_all, 6), s.condition_all
        (3.0, 1.0)
    """
    users, items = tf.convert_to_tensor(users), tf.convert_to_tensor(items)
    if users.shape.rank != 2 or items.shape.rank != 2 or users.shape[1] != items.shape[1]:
        raise InputError(f"tables must be [n, d] with one d, got {users.shape} and {items.shape}")
    user_gram, item_gram = _gram(users), _gram(items)
    sigma_user = singular_values_from_gram(user_gram, users.shape[0])
    sigma_item = singular_values_from_gram(item_gram, items.shape[0])
    sigma_all = singular_values_from_gram(user_gram + item_gram, users.shape[0] + items.shape[0])
    top, bottom = float(sigma_all[0]), float(sigma_all[-1])
    if top == 0:
        condition = math.nan
    elif bottom <= top / MAX_CONDITION:
        condition = MAX_CONDITION
    else:
        condition = top / bottom
    uni_user = uniformity(users, user_rows)
    uni_item = uniformity(items, item_rows)
    return SpectrumStats(
        sigma_user=sigma_user,
        sigma_item=sigma_item,
        sigma_all=sigma_all,
        erank_user=effective_rank(sigma_user),
        erank_item=effective_rank(sigma_item),
        erank_all=effective_rank(sigma_all),
        condition_all=condition,
        alignment=alignment(users, items, pairs) if pairs is not None and len(pairs) else math.nan,
        uniformity_user=uni_user,
        uniformity_item=uni_item,
        uniformity=0.5 * (uni_user + uni_item),
    )


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
        logdir: the run's TensorBoard folder (e.g. ``RunWriter.logdir``).
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
        if int(every) <= 0:
            raise InputError(f"--spectrum-every must be positive, got {every}")
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
            for tag, value in stats.scalars().items():
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
