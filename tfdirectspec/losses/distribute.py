"""Cross-replica helpers: the spectral terms of DirectSpec must see the global batch.

Under a ``tf.distribute`` strategy every replica holds a slice of the global
batch. The losses here let each replica's *local* rows attend to the *global*
batch (gathered with ``all_gather``, whose gradient sums the upstream
gradients of all replicas) and return per-example values for the local rows
only. Keras then sums the replicas' gradients, so a loss written as
``sum(local per-example values) / global_batch_size`` is exactly the loss of
the whole batch on one device.
"""

from __future__ import annotations

import tensorflow as tf


def _replica_context() -> tf.distribute.ReplicaContext | None:
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def gather_global(x: tf.Tensor) -> tf.Tensor:
    """Concatenates ``x`` from all replicas along axis 0 (identity on one replica)."""
    context = _replica_context()
    return x if context is None else context.all_gather(x, axis=0)


def global_offset(local_batch_size: tf.Tensor) -> tf.Tensor:
    """Index of this replica's first row inside the gathered global batch."""
    context = _replica_context()
    if context is None:
        return tf.zeros([], tf.int32)
    sizes = context.all_gather(tf.reshape(local_batch_size, [1]), axis=0)
    return tf.reduce_sum(sizes[: context.replica_id_in_sync_group])


def global_sum(x: tf.Tensor) -> tf.Tensor:
    """Sums a (non-differentiated) value over replicas, e.g. the global batch size."""
    context = _replica_context()
    return x if context is None else context.all_reduce(tf.distribute.ReduceOp.SUM, x)
