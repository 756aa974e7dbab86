"""tf.data samplers of training batches drawn from a sparse interaction matrix.

Schemes (each batch is a dict of int64 id vectors of length ``batch_size``):

* ``"user"`` — the DirectSpec authors' scheme: ``B`` users uniform over the
  users that have training items, one positive each, uniform over that user's
  items;
* ``"pair"`` — ``B`` training pairs uniform over all interactions;
* either, with ``negatives=True``: a ``"negative"`` item per row, uniform over
  the items that are not a known positive of the user (BPR triples);
* with ``shared_masks=True``: ``"user_shared"`` and ``"item_shared"``, the
  ``B × B`` 0/1 masks (uint8) of batch rows that share a training interaction
  (DirectSpec+'s adaptive temperature), computed from the CSR matrix. They are
  uint8 rather than bool because Keras averages the first batch of a
  distributed dataset when it builds, and TensorFlow cannot add booleans.

Sampling is stateless: batch ``t`` is a pure function of ``(seed, t)``, so
runs are reproducible whatever the parallelism, and a resumed run picks up
the exact stream with ``start_step``; :meth:`InteractionSampler.dataset` hands
the same stream to ``model.fit`` one epoch per iteration.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

SCHEMES = ("user", "pair")

#: Rounds of rejection sampling for negatives; after them a row keeps its
#: last draw. With density below 1 % the chance that a row is still a
#: positive after 16 rounds is below 1e-32.
_NEGATIVE_ROUNDS = 16


class InteractionSampler:
    """Builds prefetched ``tf.data`` datasets of training batches: by epoch or as a stream.

    Args:
        train: binary ``U × I`` CSR matrix of training interactions.
        batch_size: rows per batch ``B`` (the global batch under a strategy).
        scheme: ``"user"`` (authors) or ``"pair"`` (uniform interactions).
        negatives: add a uniform non-positive ``"negative"`` item per row.
        shared_masks: add the adaptive-τ masks ``"user_shared"``/``"item_shared"``.
        seed: seed of the sampling stream.

    Example:
        >>> train = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], np.float32))  # 2 users, 3 items
        >>> sampler = InteractionSampler(train, batch_size=4, negatives=True, seed=0)
        >>> batch = next(iter(sampler.stream()))
        >>> sorted(batch), batch["user"].shape, sampler.steps_per_epoch
        (['item', 'negative', 'user'], TensorShape([4]), 1)
        >>> pairs = zip(batch["user"].numpy(), batch["item"].numpy(), batch["negative"].numpy())
        >>> [(int(train[u, i]), int(train[u, j])) for u, i, j in pairs]  # positive, non-positive
        [(1, 0), (1, 0), (1, 0), (1, 0)]
    """

    def __init__(
        self,
        train: sp.csr_matrix,
        batch_size: int,
        scheme: str = "user",
        negatives: bool = False,
        shared_masks: bool = False,
        seed: int = 0,
    ) -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"unknown sampler scheme {scheme!r} (known: {', '.join(SCHEMES)})")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if train.nnz == 0:
            raise ValueError("the training matrix has no interactions")
        train = sp.csr_matrix(train, dtype=np.float32)
        train.sum_duplicates()
        train.sort_indices()
        self.train = train
        self.batch_size = int(batch_size)
        self.scheme = scheme
        self.negatives = bool(negatives)
        self.shared_masks = bool(shared_masks)
        self.seed = int(seed)
        # Item-major copy for the item masks; only the adaptive loss needs it.
        self._train_by_item = train.T.tocsr() if shared_masks else None

    @property
    def steps_per_epoch(self) -> int:
        """``⌊#train interactions / B⌋`` (at least 1), the authors' epoch length."""
        return max(1, self.train.nnz // self.batch_size)

    def dataset(self, start_epoch: int = 0, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
        """``(features, labels)`` batches for ``model.fit(sampler.dataset(), epochs=N)``.

        One epoch (:attr:`steps_per_epoch` batches) per iteration, so Keras needs no
        ``steps_per_epoch``: each new iterator (Keras makes one per epoch) continues the
        seeded stream of :meth:`stream` where the previous one stopped, the first at epoch
        ``start_epoch``. It is the iterations that advance the stream (Keras also draws one
        batch to build a model it has not built), so a script is reproducible as written;
        a run that must resume mid-stream takes :meth:`stream` from its step instead.
        ``labels`` are ones, one per row: every row is an observed pair, and the losses
        read the rows themselves (``keras.Model.fit`` wants a target).
        ``shard``/``num_shards`` are as in :meth:`stream`.

        Example:
            >>> train = sp.csr_matrix(np.eye(4, dtype=np.float32))
            >>> sampler = InteractionSampler(train, batch_size=2, seed=0)  # 2 steps an epoch
            >>> epochs = sampler.dataset()
            >>> first = [b["user"].numpy().tolist() for b, _ in epochs]
            >>> second = [b["user"].numpy().tolist() for b, _ in epochs]
            >>> stream = [b["user"].numpy().tolist() for b in sampler.stream().take(4)]
            >>> first + second == stream, len(first)
            (True, 2)
        """
        steps = self.steps_per_epoch
        next_epoch = [int(start_epoch)]

        def epoch_of_this_iteration():
            next_epoch[0] += 1
            yield next_epoch[0] - 1

        epochs = tf.data.Dataset.from_generator(
            epoch_of_this_iteration, output_signature=tf.TensorSpec([], tf.int64)
        )
        first_steps = epochs.flat_map(
            lambda epoch: tf.data.Dataset.range(epoch * steps, (epoch + 1) * steps)
        )
        ds = self._batches(first_steps, shard, num_shards)
        ds = ds.map(lambda batch: (batch, tf.ones_like(batch["user"], tf.float32)))
        return ds.apply(tf.data.experimental.assert_cardinality(steps))

    def stream(self, start_step: int = 0, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
        """The infinite batch stream (feature dicts), starting at batch ``start_step``.

        With ``num_shards > 1`` every element is the ``shard``-th of ``num_shards``
        row slices of the global batch ``t`` (:func:`shard_rows`: sizes differ by at
        most one row when ``num_shards`` does not divide ``B``): each worker or
        replica of a data-parallel run draws
        the same global batch from ``(seed, t)`` and keeps its own rows, so the
        slices are disjoint, reproducible, and together exactly the one-process
        batch. The adaptive-τ masks keep all ``B`` columns (``b × B``): a row's
        softmax runs over the global batch.
        """
        return self._batches(
            tf.data.Dataset.counter(start=start_step, dtype=tf.int64), shard, num_shards
        )

    def _batches(self, steps: tf.data.Dataset, shard: int, num_shards: int) -> tf.data.Dataset:
        """The batches of the given step numbers, this shard's rows, prefetched."""
        if num_shards < 1 or not 0 <= shard < num_shards:
            raise ValueError(f"shard {shard} is not one of {num_shards} shards")
        if self.batch_size < num_shards:
            raise ValueError(
                f"batch_size {self.batch_size} has fewer rows than {num_shards} shards"
            )
        sample = self._batch_fn()
        ds = steps.map(sample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if self.shared_masks:
            ds = ds.map(self._add_shared_masks, num_parallel_calls=tf.data.AUTOTUNE)
        if num_shards > 1:
            lo, hi = shard_rows(self.batch_size, shard, num_shards)
            ds = ds.map(lambda batch: {key: value[lo:hi] for key, value in batch.items()})
        return ds.prefetch(tf.data.AUTOTUNE)

    # -- in-graph sampling -------------------------------------------------

    def _batch_fn(self):
        train = self.train
        num_items = train.shape[1]
        # The sampler holds the CSR arrays only (O(pairs) in all: int64 row pointers,
        # int32 item indices), and finds a pair's user and a candidate negative by
        # binary search in them: no per-pair user array and no key array.
        indptr = tf.constant(train.indptr.astype(np.int64))
        indices = tf.constant(train.indices.astype(_index_dtype(num_items)))
        degrees = np.diff(train.indptr)
        active_users = tf.constant(np.flatnonzero(degrees).astype(np.int64))
        search_rounds = int(degrees.max()).bit_length()
        size, seed, scheme, negatives = self.batch_size, self.seed, self.scheme, self.negatives

        def uniform_ints(stream: tf.Tensor, maxval: tf.Tensor) -> tf.Tensor:
            return tf.random.stateless_uniform([size], stream, 0, maxval, dtype=tf.int64)

        def item_at(positions: tf.Tensor) -> tf.Tensor:
            return tf.cast(tf.gather(indices, positions), tf.int64)

        def sample(step: tf.Tensor) -> dict[str, tf.Tensor]:
            streams = tf.random.experimental.stateless_split(
                tf.stack([tf.constant(seed, tf.int64), step]), num=3
            )
            if scheme == "user":
                users = tf.gather(
                    active_users, uniform_ints(streams[0], tf.size(active_users, tf.int64))
                )
                start = tf.gather(indptr, users)
                degree = tf.gather(indptr, users + 1) - start
                # floor(r · deg) for r in [0, 1): uniform over the user's items.
                r = tf.random.stateless_uniform([size], streams[1], dtype=tf.float64)
                offset = tf.cast(tf.floor(r * tf.cast(degree, tf.float64)), tf.int64)
                items = item_at(start + offset)
            else:
                pairs = uniform_ints(streams[0], tf.size(indices, tf.int64))
                # The row of pair p: the last row pointer <= p.
                users = tf.searchsorted(indptr, pairs, side="right", out_type=tf.int64) - 1
                items = item_at(pairs)
            batch = {"user": users, "item": items}
            if negatives:

                def is_positive(candidates: tf.Tensor) -> tf.Tensor:
                    return _in_rows(indptr, indices, users, candidates, search_rounds)

                batch["negative"] = _sample_negatives(is_positive, streams[2], num_items, size)
            return batch

        return sample

    # -- adaptive-temperature masks ----------------------------------------

    def _add_shared_masks(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        user_mask, item_mask = tf.numpy_function(
            self._shared_masks_numpy,
            [batch["user"], batch["item"]],
            [tf.uint8, tf.uint8],
            stateful=False,
        )
        user_mask.set_shape([self.batch_size, self.batch_size])
        item_mask.set_shape([self.batch_size, self.batch_size])
        return {**batch, "user_shared": user_mask, "item_shared": item_mask}

    def _shared_masks_numpy(
        self, users: np.ndarray, items: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return shared_interaction_mask(self.train, users), shared_interaction_mask(
            self._train_by_item, items
        )


def shard_rows(batch_size: int, shard: int, num_shards: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a global batch that shard ``shard`` of ``num_shards`` takes.

    Example:
        >>> [shard_rows(256, k, 3) for k in range(3)]
        [(0, 85), (85, 170), (170, 256)]
    """
    return shard * batch_size // num_shards, (shard + 1) * batch_size // num_shards


def shared_interaction_mask(rows_matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """``B × B`` 0/1 mask of batch rows that share a column of ``rows_matrix``.

    ``mask[j, k] = 1`` iff ``(R R^T)[rows[j], rows[k]] > 0``; the diagonal is always 1,
    computed on the ``B``-row slice only (a sparse product, no dense R R^T).
    """
    block = rows_matrix[rows]
    shared = (block @ block.T).tocoo()
    mask = np.zeros((len(rows), len(rows)), dtype=np.uint8)
    mask[shared.row, shared.col] = 1
    np.fill_diagonal(mask, 1)
    return mask


def _index_dtype(num_items: int) -> np.dtype:
    """int32 item indices (half the memory) unless the catalog needs int64."""
    return np.int32 if num_items <= np.iinfo(np.int32).max else np.int64


def _in_rows(
    indptr: tf.Tensor, indices: tf.Tensor, rows: tf.Tensor, columns: tf.Tensor, rounds: int
) -> tf.Tensor:
    """``columns[j] ∈ row rows[j]`` of a CSR matrix with sorted indices, for every ``j``.

    A batched binary search over each row's slice of ``indices``: ``rounds``
    halvings (the bit length of the largest row) find the first position whose
    column is ``>= columns[j]``.
    """
    last = tf.size(indices, tf.int64) - 1

    def column_at(positions: tf.Tensor) -> tf.Tensor:
        # Finished searches (lo == hi) may point one past the end: clamp, the value is unused.
        return tf.cast(tf.gather(indices, tf.minimum(positions, last)), tf.int64)

    lo, end = tf.gather(indptr, rows), tf.gather(indptr, rows + 1)
    hi = end
    for _ in range(rounds):
        mid = (lo + hi) // 2
        active = lo < hi
        below = tf.logical_and(active, column_at(mid) < columns)
        lo = tf.where(below, mid + 1, lo)
        hi = tf.where(tf.logical_and(active, tf.logical_not(below)), mid, hi)
    return tf.logical_and(lo < end, tf.equal(column_at(lo), columns))


def _sample_negatives(is_positive, stream: tf.Tensor, num_items: int, size: int) -> tf.Tensor:
    """Uniform items for which ``is_positive`` is false (rejection sampling)."""
    streams = tf.random.experimental.stateless_split(stream, num=_NEGATIVE_ROUNDS)

    def redraw(
        round_: tf.Tensor, negatives: tf.Tensor, positive: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        fresh = tf.random.stateless_uniform([size], streams[round_], 0, num_items, dtype=tf.int64)
        negatives = tf.where(positive, fresh, negatives)
        return round_ + 1, negatives, is_positive(negatives)

    def any_positive(round_: tf.Tensor, negatives: tf.Tensor, positive: tf.Tensor) -> tf.Tensor:
        return tf.logical_and(round_ < _NEGATIVE_ROUNDS, tf.reduce_any(positive))

    # Stops at the first round with no positive left: later rounds would keep
    # every draw, so the batch is the one all rounds give, at a fraction of
    # the binary searches.
    negatives = tf.random.stateless_uniform([size], streams[0], 0, num_items, dtype=tf.int64)
    _, negatives, _ = tf.while_loop(
        any_positive, redraw, (tf.constant(1), negatives, is_positive(negatives))
    )
    return negatives
