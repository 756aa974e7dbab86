"""SIGKILL at a chosen point of a run: the fault injection of the kill tests.

The library has no fault hooks; these act through its extension points.

* :func:`checkpoint_class` subclasses
  :class:`~tfdirectspec.training.checkpoint.EpochCheckpoint` so that its process
  SIGKILLs itself at a *point* (``<name>@<epoch>``; ``end`` takes no epoch), through
  the checkpoint's save hooks and Keras' callback methods:

  ==========  =====================================================================
  mid         halfway through epoch E (a worker killed mid-epoch: its peers wait)
  before      end of epoch E, before any file of its checkpoint (its evaluation
              state is written)
  truncated   epoch E's checkpoint files written, the data file cut to half (a
              kill mid-write), not committed
  written     epoch E's checkpoint files written, not committed (the state file
              not updated)
  committed   epoch E's checkpoint committed
  end         training finished (and checkpointed), the run not yet stored
  ==========  =====================================================================

  :func:`install` puts it in place of the class ``tfdirectspec train`` creates (the
  command imports ``EpochCheckpoint`` from its module when it runs), which is what
  ``tests/fault_driver.py`` does before it calls the command line.
* :func:`kill_worker_after` is an ``on_start`` for
  :class:`~tfdirectspec.distributed.LocalCluster` that SIGKILLs one worker of the first
  start some seconds in, as if the machine had killed it.

TensorFlow loads only in :func:`checkpoint_class` (the launcher never imports it).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from subprocess import Popen

#: The kill points of :func:`checkpoint_class`, in the order a run reaches them.
POINTS = ("mid", "before", "truncated", "written", "committed", "end")


def parse_point(spec: str) -> tuple[str, int | None]:
    """``mid@2`` -> ``("mid", 2)``; ``end`` -> ``("end", None)``.

    Raises:
        ValueError: an unknown point, a missing or non-positive epoch, or an epoch
            given to ``end``.
    """
    name, at, epoch = spec.partition("@")
    if name not in POINTS:
        raise ValueError(f"unknown kill point {name!r} in {spec!r} (one of {', '.join(POINTS)})")
    if name == "end":
        if at:
            raise ValueError(f"kill point end takes no epoch, got {spec!r}")
        return name, None
    if not epoch.isdigit() or int(epoch) < 1:
        raise ValueError(f"expected {name}@<epoch> with an epoch >= 1, got {spec!r}")
    return name, int(epoch)


def kill_self() -> None:
    """SIGKILLs this process: no handler, no cleanup, no flush."""
    os.kill(os.getpid(), signal.SIGKILL)


def checkpoint_class(spec: str) -> type:
    """An ``EpochCheckpoint`` subclass whose process SIGKILLs itself at ``spec``.

    Everything else is the library's class, unchanged: every hook calls ``super()``.
    """
    from tfdirectspec.training.checkpoint import EpochCheckpoint

    point, at = parse_point(spec)

    class KillingCheckpoint(EpochCheckpoint):
        #: The kill point, as given.
        fault = spec

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._epoch_now = 0  # 1-based: the epoch running

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            super().on_epoch_begin(epoch, logs)
            self._epoch_now = epoch + 1

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            super().on_train_batch_end(batch, logs)
            halfway = batch >= (self.params.get("steps") or 0) // 2
            if point == "mid" and self._epoch_now == at and halfway:
                kill_self()

        def on_save_begin(self, epoch: int) -> None:
            super().on_save_begin(epoch)
            if point == "before" and epoch == at:
                kill_self()

        def on_save_written(self, path: str, epoch: int) -> None:
            super().on_save_written(path, epoch)
            if epoch != at:
                return
            if point == "truncated":
                prefix = Path(path)
                for data in prefix.parent.glob(f"{prefix.name}.data-*"):
                    os.truncate(data, data.stat().st_size // 2)
                kill_self()
            if point == "written":
                kill_self()

        def on_save_end(self, path: str, epoch: int) -> None:
            super().on_save_end(path, epoch)
            if point == "committed" and epoch == at:
                kill_self()

        def on_train_end(self, logs: dict | None = None) -> None:
            super().on_train_end(logs)
            if point == "end":
                kill_self()

    return KillingCheckpoint


def install(spec: str) -> type:
    """Makes every ``EpochCheckpoint`` the train command creates from now on kill at ``spec``.

    ``tfdirectspec train`` imports the class from its module when it runs, so replacing
    the module's attribute reaches it; the process is about to die anyway, nothing is
    put back. Returns the class installed.
    """
    from tfdirectspec.training import checkpoint

    killing = checkpoint_class(spec)
    checkpoint.EpochCheckpoint = killing
    return killing


def kill_worker_after(worker: int, seconds: float) -> Callable[[int, Sequence[Popen]], None]:
    """An ``on_start`` for ``LocalCluster``: SIGKILLs ``worker`` ``seconds`` after the
    first start (restarts run clean), as if the machine had killed it.

    Raises (from the launcher, at each start):
        IndexError: the cluster has no worker ``worker``.
    """

    def on_start(start: int, workers: Sequence[Popen]) -> None:
        if not 0 <= worker < len(workers):
            raise IndexError(f"no worker {worker} in a cluster of {len(workers)}")
        if start == 0:
            # Popen.send_signal does nothing once the launcher has reaped the worker.
            timer = threading.Timer(seconds, workers[worker].send_signal, (signal.SIGKILL,))
            timer.daemon = True
            timer.start()

    return on_start
