"""``tf.distribute`` strategies by name, and the batch stream each replica reads.

``--strategy``:

* ``default`` — no distribution (TensorFlow's default strategy, one device);
* ``mirrored`` — ``MirroredStrategy`` over this machine's devices (all-reduce in process);
* ``multi-worker`` — ``MultiWorkerMirroredStrategy`` over the processes that
  ``TF_CONFIG`` lists (collective all-reduce over gRPC), e.g. as started by
  ``tfdirectspec cluster``.

In every case the batch size is the *global* batch ``B``. Each replica reads
its own ``B / replicas`` rows of every global batch (:func:`distributed_batches`),
drawn from ``(seed, step)`` and sliced by replica, so a distributed run sees the
same batches as a one-process run and its losses, gradients and weights agree
up to floating-point summation order.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import tensorflow as tf

from tfdirectspec.backend import STARTUP_NOISE, filtered_stderr
from tfdirectspec.distributed.cluster_spec import (
    DEFAULT_CLUSTER_TIMEOUT,
    STRATEGIES,
    ClusterSpec,
)
from tfdirectspec.distributed.watchdog import cluster_watchdog
from tfdirectspec.errors import InputError

if TYPE_CHECKING:
    from tfdirectspec.data.samplers import InteractionSampler


def make_strategy(
    name: str = "default", cluster_timeout: float = DEFAULT_CLUSTER_TIMEOUT
) -> tf.distribute.Strategy:
    """The strategy called ``name`` (see the module docstring).

    For ``multi-worker`` this starts the process's collective server and
    waits for every peer to register, at most ``cluster_timeout`` seconds; past
    that a watchdog prints a one-line error naming a missing peer and kills the
    process (TensorFlow's wait cannot be interrupted; see
    :mod:`~tfdirectspec.distributed.watchdog`). Afterwards a worker whose peer
    died fails at its next collective (connection reset, or the coordination
    service's missed heartbeats) instead of hanging.

    Raises:
        InputError: a malformed ``TF_CONFIG``, or this worker's port is taken.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name != "multi-worker":
        raise ValueError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    cluster = ClusterSpec.from_env()  # checked before TensorFlow sees it
    # No CommunicationOptions(timeout_seconds=...): TensorFlow keeps a sleeping thread
    # per collective for that long, thousands a minute here (threads ran out at 12,000
    # per worker). A dead peer is detected by the coordination service's heartbeats.
    try:
        with cluster_watchdog(cluster, cluster_timeout), filtered_stderr(SERVER_NOISE):
            return tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.UnknownError as error:  # e.g. the port is taken
        address = cluster.addresses[cluster.rank]
        raise InputError(
            f"TF_CONFIG: cannot start this worker's server at {address} ({error.message})"
        ) from None


#: Log lines of a gRPC server that failed to start (the error says it in one line).
SERVER_NOISE = re.compile(
    rf"{STARTUP_NOISE.pattern}|add_port\.cc|grpc_server_lib\.cc|context_distributed_manager\.cc"
)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` all-reduces across processes (the case Keras mishandles).

    The same test Keras' TensorFlow trainer applies before reducing step
    outputs across workers.
    """
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Returns once every replica got here (a one-number all-reduce).

    At the end of a multi-worker run the chief still writes the run directory
    while the others are done; workers that exit then stop sending heartbeats,
    and the chief's coordination service reports them as crashed. Meeting here
    after the chief's writes lets them all exit together.
    """
    if strategy.num_replicas_in_sync > 1:
        _meet(strategy)


@tf.function
def _meet(strategy: tf.distribute.Strategy) -> tf.Tensor:
    # In a tf.function: run eagerly, TensorFlow warns about the overhead.
    ones = strategy.run(lambda: tf.ones([]))
    return strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)


def distributed_batches(
    sampler: InteractionSampler, strategy: tf.distribute.Strategy, start_step: int = 0
) -> tf.data.Dataset | tf.distribute.DistributedDataset:
    """The sampler's stream from ``start_step``, split over ``strategy``'s replicas.

    Replica ``r`` of ``R`` gets rows ``[⌊r·B/R⌋, ⌊(r+1)·B/R⌋)`` of every global batch
    (the losses divide by the global row count, so uneven slices are exact).
    Each input pipeline (one per worker) yields its local replicas' slices in
    turn, which is the order a distributed iterator hands them out. On one
    replica this is ``sampler.stream(start_step)`` itself.
    """
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return sampler.stream(start_step)

    def pipeline(context: tf.distribute.InputContext) -> tf.data.Dataset:
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local
        slices = [sampler.stream(start_step, first + k, replicas) for k in range(local)]
        if local == 1:
            return slices[0]
        # One element per local replica for each step, in replica order.
        return tf.data.Dataset.zip(tuple(slices)).flat_map(lambda *parts: _sequence(parts))

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(pipeline, options)


def _sequence(parts: tuple) -> tf.data.Dataset:
    """A dataset of ``parts`` one after another."""
    dataset = tf.data.Dataset.from_tensors(parts[0])
    for part in parts[1:]:
        dataset = dataset.concatenate(tf.data.Dataset.from_tensors(part))
    return dataset
