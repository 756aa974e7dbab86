"""A watchdog process that ends a worker stuck waiting for its cluster.

TensorFlow's ``MultiWorkerMirroredStrategy`` constructor waits for every task to
register with no timeout, inside a call that holds the GIL and ignores SIGTERM:
neither a Python thread nor a signal handler of the waiting process can act.
This small separate process can. The worker starts it with a pipe on its stdin
and closes the pipe once the cluster is up; if that does not happen within the
timeout, the watchdog prints one line naming a peer that is not up and SIGKILLs
the worker. It imports no TensorFlow.

Example (what :func:`tfdirectspec.distributed.strategies.make_strategy` does)::

    with cluster_watchdog(cluster, timeout=300):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator

from tfdirectspec.distributed.cluster_spec import ClusterSpec


@contextlib.contextmanager
def cluster_watchdog(cluster: ClusterSpec, timeout: float) -> Iterator[None]:
    """Kills this process with a one-line error unless the block ends within ``timeout`` s."""
    sys.stderr.flush()
    watchdog = subprocess.Popen(
        [
            sys.executable,
            "-m",
            __name__,
            str(os.getpid()),
            repr(float(timeout)),
            ",".join(cluster.addresses),
            str(cluster.rank),
        ],  # fmt: skip
        stdin=subprocess.PIPE,
    )
    try:
        yield
    finally:
        watchdog.stdin.close()  # EOF: the watchdog exits quietly
        watchdog.wait()


def main(argv: list[str]) -> int:
    pid, timeout, addresses, rank = int(argv[0]), float(argv[1]), argv[2].split(","), int(argv[3])
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if ready:
        return 0
    missing = ClusterSpec(tuple(addresses), rank).unreachable_peers()
    who = f"worker {addresses.index(missing[0])} at {missing[0]}" if missing else "the cluster"
    line = f"tfdirectspec: error: {who} did not come up within {timeout:g} s (--cluster-timeout)"
    os.write(2, (line + "\n").encode())
    os.kill(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
