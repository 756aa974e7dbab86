"""Training on several devices or machines: strategies by name, the cluster, its launcher.

``tfdirectspec train --strategy multi-worker`` trains with
``tf.distribute.MultiWorkerMirroredStrategy`` over the processes that ``TF_CONFIG``
lists (:class:`ClusterSpec` reads and checks it, :func:`make_strategy` builds the
strategy, :func:`distributed_batches` gives each replica its rows of every global
batch). ``tfdirectspec cluster --workers N -- train ARGS`` starts such processes on
this machine: :class:`LocalCluster` starts them, prefixes their output, stops them all
when one fails and restarts the cluster from the last checkpoint.

:mod:`~tfdirectspec.distributed.cluster_spec`, :mod:`~tfdirectspec.distributed.launcher`
and :mod:`~tfdirectspec.distributed.watchdog` are plain Python (the command line checks
a cluster before TensorFlow loads, and any worker program can be launched); the
strategies load TensorFlow on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfdirectspec.lazy import lazy_exports

#: Public name -> module that defines it.
_EXPORTS = {
    "STRATEGIES": "tfdirectspec.distributed.cluster_spec",
    "ClusterSpec": "tfdirectspec.distributed.cluster_spec",
    "LocalCluster": "tfdirectspec.distributed.launcher",
    "Restart": "tfdirectspec.distributed.launcher",
    "free_ports": "tfdirectspec.distributed.launcher",
    "tf_config": "tfdirectspec.distributed.launcher",
    "distributed_batches": "tfdirectspec.distributed.strategies",
    "is_multi_worker": "tfdirectspec.distributed.strategies",
    "make_strategy": "tfdirectspec.distributed.strategies",
}

__all__ = [
    "STRATEGIES",
    "ClusterSpec",
    "LocalCluster",
    "Restart",
    "distributed_batches",
    "free_ports",
    "is_multi_worker",
    "make_strategy",
    "tf_config",
]

if TYPE_CHECKING:
    from tfdirectspec.distributed.cluster_spec import STRATEGIES, ClusterSpec
    from tfdirectspec.distributed.launcher import (
        LocalCluster,
        Restart,
        free_ports,
        tf_config,
    )
    from tfdirectspec.distributed.strategies import (
        distributed_batches,
        is_multi_worker,
        make_strategy,
    )

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
