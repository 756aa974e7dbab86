"""A local multi-worker cluster: N worker processes, each with its own ``TF_CONFIG``.

``tf.distribute.MultiWorkerMirroredStrategy`` runs one process per worker; each finds
its peers and its own place among them in the ``TF_CONFIG`` environment variable
(worker 0 is the chief). :class:`LocalCluster` starts those processes on this machine
for any worker command and keeps the job from hanging or losing work:

* every worker gets a free port on 127.0.0.1 and its ``TF_CONFIG``;
* each worker's stdout and stderr reach the launcher's, line by line, prefixed with
  ``[worker i] `` (stderr stays on stderr);
* a worker that fails (non-zero status or a signal) stops the others (SIGTERM, then
  SIGKILL after ``grace`` seconds): a collective op cannot complete without a peer,
  so they would only wait for their timeout;
* with ``restarts``, a failed cluster is started again, all workers at once on fresh
  ports, with the caller's *resume* command (``tfdirectspec train --resume DIR``
  continues from the last epoch checkpoint);
* SIGINT or SIGTERM to the launcher stops every worker before the launcher exits;
* ``on_start`` is told of each start's worker processes (to log their pids, watch
  them, or act on one).

This module is plain Python (subprocess, socket, threads) and never imports
TensorFlow: the launcher only starts processes.

Example:
    >>> tf_config(["127.0.0.1:5000", "127.0.0.1:5001"], 1)["task"]
    {'type': 'worker', 'index': 1}
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

#: A worker exiting with this status rejected its command line: a restart cannot help.
EXIT_USAGE = 2
#: Seconds between the SIGTERM and the SIGKILL that stop a worker.
GRACE_SECONDS = 5.0
#: How often the launcher looks at its workers (seconds).
POLL_SECONDS = 0.05
#: Seconds to wait for a worker's output to drain after it exited (a grandchild that
#: inherited its pipes could otherwise keep the launcher waiting).
DRAIN_SECONDS = 5.0
#: What the launcher's own lines on stderr start with.
NAME = "tfdirectspec cluster"


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports on ``host`` that were free a moment ago.

    Each port comes from binding port 0 (the kernel picks a free one); the sockets stay
    open until all ``n`` are picked, so the ports differ. They are closed before the
    workers bind them, so another process could take one in between: the window is
    short and the cluster is restarted on fresh ports anyway.

    Example:
        >>> ports = free_ports(3)
        >>> len(set(ports)), all(0 < port < 65536 for port in ports)
        (3, True)
    """
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(addresses: Sequence[str], index: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of worker ``index`` of the cluster ``addresses`` (worker 0 = chief).

    Example:
        >>> tf_config(["127.0.0.1:5000", "127.0.0.1:5001"], 0)
        {'cluster': {'worker': ['127.0.0.1:5000', '127.0.0.1:5001']},
         'task': {'type': 'worker', 'index': 0}}
    """
    if not 0 <= index < len(addresses):
        raise ValueError(f"index must be in [0, {len(addresses)}), got {index}")
    return {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}}


def describe_status(status: int) -> str:
    """A worker's end in words: ``exited with status 1`` or ``was killed by SIGKILL``.

    ``status`` is a ``Popen.returncode``: negative for a death by a signal.

    Example:
        >>> describe_status(1), describe_status(-9)
        ('exited with status 1', 'was killed by SIGKILL')
    """
    if status >= 0:
        return f"exited with status {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = f"signal {-status}"
    return f"was killed by {name}"


def exit_code(status: int) -> int:
    """A ``Popen.returncode`` as a shell exit status (128 + N for a death by signal N).

    Example:
        >>> exit_code(0), exit_code(3), exit_code(-9)
        (0, 3, 137)
    """
    return status if status >= 0 else 128 - status


class Restart(NamedTuple):
    """The command of a restarted cluster, as a ``resume`` callable may return it.

    Attributes:
        argv: the worker command of the new start.
        from_checkpoint: whether it continues from a checkpoint (False: the run starts
            over, e.g. it died before its first checkpoint); only the message uses it.
    """

    argv: Sequence[str]
    from_checkpoint: bool = True


#: What ``resume`` may be: the argv of every restart, or a callable asked at each restart
#: (it may look at what the failed start left on disk) that returns the argv, a
#: :class:`Restart`, or None for "do not restart".
Resume = Sequence[str] | Callable[[], Sequence[str] | Restart | None]


#: What ``on_start`` is: called with the start's number (0 the first start, 1 the first
#: restart, ...) and its worker processes, worker ``i`` at index ``i``.
OnStart = Callable[[int, Sequence[subprocess.Popen]], object]


@dataclass
class _Outcome:
    """How one start of the cluster ended."""

    #: Each worker's ``Popen.returncode``.
    statuses: list[int]
    #: The worker whose failure ended the start (None: none failed).
    cause: int | None = None
    #: Workers the launcher stopped (their statuses are the launcher's doing).
    stopped: set[int] = field(default_factory=set)
    #: The signal that interrupted the launcher (None: not interrupted).
    interrupted: int | None = None


class LocalCluster:
    """Runs a command as the ``workers`` workers of a local multi-worker cluster.

    Each worker is a process of ``argv`` with the launcher's environment (or ``env``)
    plus ``TF_CONFIG`` (its task index and every worker's ``127.0.0.1:<port>``) and
    ``PYTHONUNBUFFERED=1`` (so a Python worker's lines arrive as they are printed).
    Its output reaches ``stdout`` and ``stderr`` line by line as ``[worker i] <line>``;
    the launcher's own messages go to ``stderr`` as ``tfdirectspec cluster: ...``.

    :meth:`run` returns when every worker has exited. A worker that exits non-zero or is
    killed stops the others (SIGTERM, SIGKILL after ``grace`` seconds). Then, unless its
    status was 2 (a usage error: the same command would fail again) or no restarts
    remain, every worker is started again on fresh ports with the ``resume`` command.
    Each worker runs in its own process group: a Ctrl-C in the terminal reaches only the
    launcher, which then stops the workers (SIGINT or SIGTERM to the launcher: the same).

    Args:
        argv: the worker command, the same for every worker (its ``TF_CONFIG`` differs).
        workers: number of worker processes (>= 1); worker 0 is the chief.
        resume: the command of a restart: an argv, or a callable called at each restart
            returning an argv, a :class:`Restart` or None (do not restart). Default:
            ``argv`` again.
        restarts: how many times the cluster may be restarted after a failure.
        env: the environment of the workers, before ``TF_CONFIG`` (default: the
            launcher's).
        grace: seconds between the SIGTERM and the SIGKILL that stop a worker.
        peer_timeout: once the chief has exited with status 0, seconds the other workers
            get to finish before they are stopped (None: wait for them).
        host: the address the workers listen on.
        stdout, stderr: where the output goes (default: ``sys.stdout``, ``sys.stderr``
            at construction).
        on_start: called at each start, once its workers are launched and before they
            are watched, with the start's number (0, then 1 for the first restart, ...)
            and the ``subprocess.Popen`` of each worker (worker ``i`` at index ``i``),
            e.g. to log their pids or to watch or signal one from a thread of the
            caller's. It runs on the launcher's loop: it should return at once. A
            worker it stops or kills counts as a failed worker; an exception it raises
            stops the start's workers and leaves :meth:`run`. Default: nothing.

    Example:
        >>> import io, sys
        >>> code = "import json, os; print(json.loads(os.environ['TF_CONFIG'])['task']['index'])"
        >>> out = io.StringIO()
        >>> LocalCluster([sys.executable, "-c", code], 2, stdout=out, stderr=io.StringIO()).run()
        0
        >>> sorted(out.getvalue().splitlines())
        ['[worker 0] 0', '[worker 1] 1']
    """

    def __init__(
        self,
        argv: Sequence[str],
        workers: int,
        *,
        resume: Resume | None = None,
        restarts: int = 0,
        env: Mapping[str, str] | None = None,
        grace: float = GRACE_SECONDS,
        peer_timeout: float | None = None,
        host: str = "127.0.0.1",
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        on_start: OnStart | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if restarts < 0:
            raise ValueError(f"restarts must be >= 0, got {restarts}")
        if not argv:
            raise ValueError("argv is empty")
        self.argv = [str(a) for a in argv]
        self.workers = int(workers)
        self.resume = resume
        self.restarts = int(restarts)
        self.env = dict(os.environ if env is None else env)
        self.grace = float(grace)
        self.peer_timeout = peer_timeout
        self.host = host
        self.stdout = sys.stdout if stdout is None else stdout
        self.stderr = sys.stderr if stderr is None else stderr
        self.on_start = on_start
        #: The argv of each start so far (the first is ``argv``).
        self.starts: list[list[str]] = []
        self._lock = threading.Lock()  # one line at a time on the launcher's streams
        self._signal: int | None = None  # set by the signal handlers, read by the loop
        self._signals_seen = 0

    # -- the run -------------------------------------------------------------------------

    def run(self) -> int:
        """Runs the cluster until it finishes, fails for good or is interrupted.

        Returns:
            The chief's exit status; when the chief was stopped because a peer failed,
            the failed peer's (128 + N for a death by signal N).

        Raises:
            KeyboardInterrupt: the launcher got SIGINT (the workers are stopped first).
            SystemExit: status 143, the launcher got SIGTERM (the workers are stopped).
        """
        argv, restart = self.argv, 0
        with self._handling_signals():
            while True:
                outcome = self._start(argv)
                # A signal while stopping the workers of a failed start counts too.
                interrupted = outcome.interrupted or self._signal
                if interrupted is not None:
                    self._say(f"got {signal.Signals(interrupted).name}; stopped the workers")
                    if interrupted == signal.SIGINT:
                        raise KeyboardInterrupt
                    raise SystemExit(128 + interrupted)
                chief = outcome.statuses[0]
                if outcome.cause is None:
                    if outcome.stopped:
                        late = ", ".join(str(i) for i in sorted(outcome.stopped))
                        self._say(
                            f"the chief finished; stopped worker {late} "
                            f"{self.peer_timeout:g} s later"
                        )
                    return exit_code(chief)
                status = outcome.statuses[outcome.cause]
                failure = f"worker {outcome.cause} {describe_status(status)}"
                ended = failure + ("; stopped the other workers" if outcome.stopped else "")
                # The chief's own status, unless the launcher stopped it: then the peer's
                # failure is the cluster's.
                code = exit_code(status if 0 in outcome.stopped else chief)
                if chief == 0:
                    self._say(f"{failure} after the chief finished")
                    return code
                if status == EXIT_USAGE:
                    self._say(f"{ended}; a usage error: not restarting")
                    return code
                if restart >= self.restarts:
                    used = f"; no restarts left ({self.restarts} used)" if self.restarts else ""
                    self._say(ended + used)
                    return code
                nxt = self._next_start()
                if nxt is None:
                    self._say(f"{ended}; nothing to restart")
                    return code
                restart += 1
                where = "from the last checkpoint" if nxt.from_checkpoint else "from the start"
                self._say(
                    f"{failure}; restarting the cluster {where} "
                    f"(restart {restart} of {self.restarts})"
                )
                argv = [str(a) for a in nxt.argv]

    def _next_start(self) -> Restart | None:
        """The command of the next start (None: do not restart)."""
        if self.resume is None:
            return Restart(self.argv, from_checkpoint=False)
        value = self.resume() if callable(self.resume) else self.resume
        if value is None or isinstance(value, Restart):
            return value
        return Restart(value)

    def _start(self, argv: list[str]) -> _Outcome:
        """One start of the cluster: launches the workers and watches them until it ends."""
        self.starts.append(argv)
        addresses = [f"{self.host}:{port}" for port in free_ports(self.workers, self.host)]
        self._say(f"starting {self.workers} worker(s) on {', '.join(addresses)}")
        procs: list[subprocess.Popen] = []
        pumps: list[threading.Thread] = []
        try:
            for index in range(self.workers):
                env = {**self.env, "TF_CONFIG": json.dumps(tf_config(addresses, index))}
                env.setdefault("PYTHONUNBUFFERED", "1")
                proc = subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    # Its own process group: a terminal's Ctrl-C goes to the launcher
                    # alone (it stops the workers in order), and a stop reaches any
                    # process the worker started.
                    process_group=0,
                )
                procs.append(proc)
                for pipe, sink in ((proc.stdout, self.stdout), (proc.stderr, self.stderr)):
                    pump = threading.Thread(
                        target=self._pump, args=(pipe, sink, f"[worker {index}] "), daemon=True
                    )
                    pump.start()
                    pumps.append(pump)
            if self.on_start is not None:
                self.on_start(len(self.starts) - 1, list(procs))
            return self._watch(procs)
        finally:
            # Whatever happened (an exception included), no worker outlives the start.
            self._stop(procs, [i for i, p in enumerate(procs) if p.poll() is None])
            deadline = time.monotonic() + DRAIN_SECONDS
            for pump in pumps:
                pump.join(max(0.0, deadline - time.monotonic()))

    def _watch(self, procs: list[subprocess.Popen]) -> _Outcome:
        """Waits until every worker exited, one failed, or the launcher got a signal."""
        chief_done: float | None = None
        while True:
            now = time.monotonic()
            if self._signal is not None:
                running = [i for i, p in enumerate(procs) if p.poll() is None]
                self._stop(procs, running)
                return _Outcome(
                    [p.returncode for p in procs], stopped=set(running), interrupted=self._signal
                )
            statuses = [p.poll() for p in procs]
            failed = [i for i, s in enumerate(statuses) if s is not None and s != 0]
            if failed:
                # A death by signal is the likelier cause when peers fail at once (the
                # others notice the missing peer and exit in turn).
                cause = min(failed, key=lambda i: (statuses[i] >= 0, i))
                running = [i for i, s in enumerate(statuses) if s is None]
                self._stop(procs, running)
                return _Outcome([p.returncode for p in procs], cause, set(running))
            if all(s is not None for s in statuses):
                return _Outcome(list(statuses))
            if statuses[0] == 0 and self.peer_timeout is not None:
                chief_done = now if chief_done is None else chief_done
                if now - chief_done >= self.peer_timeout:
                    running = [i for i, s in enumerate(statuses) if s is None]
                    self._stop(procs, running)
                    return _Outcome([p.returncode for p in procs], stopped=set(running))
            time.sleep(POLL_SECONDS)

    def _stop(self, procs: list[subprocess.Popen], which: list[int]) -> None:
        """SIGTERM to the workers ``which``, SIGKILL to those alive ``grace`` s later."""
        for i in which:
            _kill(procs[i].pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        seen = self._signals_seen
        # A second Ctrl-C while waiting skips the rest of the grace period.
        while (
            any(procs[i].poll() is None for i in which)
            and time.monotonic() < deadline
            and self._signals_seen == seen
        ):
            time.sleep(POLL_SECONDS)
        for i in which:
            if procs[i].poll() is None:
                _kill(procs[i].pid, signal.SIGKILL)
        for i in which:
            procs[i].wait()

    # -- output and signals ------------------------------------------------------------------

    def _pump(self, pipe: IO[bytes], sink: IO[str], prefix: str) -> None:
        """Copies a worker's pipe to ``sink`` line by line, each line with ``prefix``."""
        with pipe:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self._write(sink, prefix + line)

    def _say(self, message: str) -> None:
        self._write(self.stderr, f"{NAME}: {message}")

    def _write(self, sink: IO[str], line: str) -> None:
        with self._lock:
            try:
                sink.write(line + "\n")
                sink.flush()
            except (OSError, ValueError):
                # A closed or broken stream (``| head``): keep reading the workers' pipes
                # all the same, or a worker would block on a full pipe.
                pass

    @contextmanager
    def _handling_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM set a flag the watch loop acts on (handlers need the main
        thread; elsewhere the process's own handling stays)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            self._signal = signum
            self._signals_seen += 1

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def _kill(pid: int, sig: signal.Signals) -> None:
    """Sends ``sig`` to a worker's process group (the worker and any process it started)."""
    try:
        os.killpg(pid, sig)  # the worker leads its group: the group id is its pid
    except (ProcessLookupError, PermissionError):
        pass  # it already exited
