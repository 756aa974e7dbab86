"""The multi-worker cluster a process belongs to, read from ``TF_CONFIG`` (no TensorFlow).

``TF_CONFIG`` is TensorFlow's standard cluster description, a JSON object such as::

    {"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]},
     "task": {"type": "worker", "index": 0}}

(a ``"chief"`` list is accepted too; it then holds worker 0). The chief (the
``chief`` task, else worker 0) is the only process that writes the run
directory, TensorBoard logs and exports. This module only parses and checks it,
so a malformed cluster fails in a moment with a one-line error, before
TensorFlow loads and before anything is written.

Example:
    >>> spec = ClusterSpec.parse('{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},'
    ...                          ' "task": {"type": "worker", "index": 1}}')
    >>> spec.num_workers, spec.rank, spec.is_chief, spec.peers()
    (2, 1, False, ['127.0.0.1:1'])
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket

from tfdirectspec.errors import InputError

ENV = "TF_CONFIG"
#: ``--strategy`` names (see :mod:`tfdirectspec.distributed.strategies`).
STRATEGIES = ("default", "mirrored", "multi-worker")
#: Seconds every peer may take to come up (``--cluster-timeout``).
DEFAULT_CLUSTER_TIMEOUT = 300.0
#: Task types that take part in training (an ``evaluator`` task is not supported).
TRAINING_TASKS = ("chief", "worker")


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """The training tasks of a cluster and which of them this process is.

    Attributes:
        addresses: ``host:port`` of every training task, chief first.
        rank: this process's position in ``addresses`` (0 = chief).
    """

    addresses: tuple[str, ...]
    rank: int

    @property
    def num_workers(self) -> int:
        return len(self.addresses)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def peers(self) -> list[str]:
        """The other tasks' addresses."""
        return [a for i, a in enumerate(self.addresses) if i != self.rank]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ClusterSpec:
        """The cluster described by the ``TF_CONFIG`` environment variable.

        Raises:
            InputError: no ``TF_CONFIG``, or one that does not describe this task.
        """
        value = (os.environ if environ is None else environ).get(ENV)
        if not value:
            raise InputError(f"{ENV} is not set (--strategy multi-worker reads the cluster there)")
        return cls.parse(value)

    @classmethod
    def parse(cls, text: str) -> ClusterSpec:
        """Parses and checks a ``TF_CONFIG`` value (one-line :class:`InputError` otherwise)."""
        try:
            config = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{ENV}: not valid JSON ({e.msg} at character {e.pos})") from None
        if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
            raise InputError(f'{ENV}: needs a "cluster" object of task lists')
        cluster, task = config["cluster"], config.get("task")
        others = sorted(set(cluster) - set(TRAINING_TASKS))
        if others:
            raise InputError(f"{ENV}: task type {others[0]!r} is not supported (chief, worker)")
        lists = {kind: cluster.get(kind, []) for kind in TRAINING_TASKS}
        for kind, addresses in lists.items():
            if not isinstance(addresses, list) or not all(
                isinstance(a, str) and _valid_address(a) for a in addresses
            ):
                raise InputError(f'{ENV}: cluster "{kind}" must be a list of "host:port" strings')
        if len(lists["chief"]) > 1:
            raise InputError(f'{ENV}: cluster "chief" holds more than one task')
        addresses = tuple(lists["chief"] + lists["worker"])
        if not addresses:
            raise InputError(f"{ENV}: the cluster has no workers")
        if len(set(addresses)) < len(addresses):
            raise InputError(f"{ENV}: an address appears twice in the cluster")
        if not isinstance(task, dict) or task.get("type") not in TRAINING_TASKS:
            raise InputError(f'{ENV}: needs "task": {{"type": "worker" or "chief", "index": N}}')
        index = task.get("index", 0)
        members = lists[task["type"]]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(members):
            raise InputError(
                f"{ENV}: task index {index!r} is out of range for {len(members)} "
                f'"{task["type"]}" task(s)'
            )
        rank = index if task["type"] == "chief" else len(lists["chief"]) + index
        return cls(addresses, rank)

    def unreachable_peers(self, timeout: float = 0.5) -> list[str]:
        """The peers that do not accept a TCP connection now (their server is not up)."""
        missing = []
        for address in self.peers():
            host, port = address.rsplit(":", 1)
            try:
                with socket.create_connection((host, int(port)), timeout=timeout):
                    pass
            except OSError:
                missing.append(address)
        return missing


def _valid_address(address: str) -> bool:
    host, _, port = address.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536
