"""Benchmark: multi-worker training on one machine — time per step and bytes per step per worker.

For each worker count of ``--workers`` (default 1 2 4) it starts that many local worker
processes (this script again, with ``--worker``; a ``TF_CONFIG`` each on 127.0.0.1 from
:class:`~tfdirectspec.distributed.LocalCluster`), which train a zoo entry (default
DirectSpec+ MF on the embedded CiteULike, the authors' settings: global batch 256, d = 64,
SGD) under ``MultiWorkerMirroredStrategy``, exactly as ``tfdirectspec train --strategy
multi-worker`` builds it (:func:`~tfdirectspec.training.build_model`,
:func:`~tfdirectspec.training.sampler_for`,
:func:`~tfdirectspec.distributed.distributed_batches`). One ``fit`` runs ``1 + --repeats``
epochs of ``--steps`` steps: the first (tracing, warm-up) is dropped, each other is one
timed repeat. One worker runs in a fresh process under the default strategy, twice: with
one step per execution (what the multi-worker path is forced to, so the difference to it
is the cost of the collectives) and with the default execution size.

Recorded per worker count (medians over the repeats, chief's clock): steps/s, ms/step,
CPU ms/step per worker (user + system time of the process, so 2 workers × CPU ms ≤ 2 cores ×
wall ms shows when the cores are the limit), peak RSS per worker, and the bytes each worker
communicates per step, measured two ways:

* ``tcp_payload``: the ``bytes_received`` of every TCP socket with an end on one of the
  cluster's ports (``ss -tin``: only this cluster's connections, so other traffic on the
  machine does not count), summed over the timed epoch, ÷ steps ÷ workers: what a worker
  sends per step, gRPC's HTTP/2 and protobuf framing and the coordination service's
  heartbeats included, TCP/IP headers excluded;
* ``loopback``: the ``lo`` interface's received bytes (``/proc/net/dev``) over the same
  epoch, ÷ steps ÷ workers: the same plus 66 bytes of Ethernet/IP/TCP header per packet,
  and anything else using loopback meanwhile (see ``busy_processes``);

and the analytic payload (:func:`step_collectives`, below), the bytes of the collectives'
tensors alone. The chief then times chained collectives alone (a 4-byte all-reduce: the
latency of one collective; the forward all-gather of ``B/N × d`` rows; an all-reduce of
4 MiB: the bandwidth) for the scaling model (``pipelines/benchmarks/scaling_model.py``).

Analytic payload per step and worker. MultiWorkerMirroredStrategy on CPU runs ring
algorithms (TensorFlow's ``RingGatherer`` and ``RingReducer``). With ``N`` workers:

* a ring all-gather of ``s`` bytes per worker: each worker sends ``(N−1)·s`` in ``N−1`` hops;
* a ring all-reduce of ``S`` bytes: each worker sends ``2·(N−1)/N·S`` in ``2·(N−1)`` hops.

With global batch ``B``, ``b = ⌈B/N⌉`` rows per worker (all-gathers pad to the largest
slice), width ``d``, float32 rows and int64 ids, one training step runs:

* DirectSpec / DirectSpec+ (either tower): forward, ``ReplicaContext.all_gather`` of the
  normalised user rows and of the item rows, each an all-gather of the slice shape (8 B)
  then of the rows (``b·d·4``); backward, the gradient of each all-gather, an all-reduce of
  the whole ``B × d`` gradient (``B·d·4``) then an all-gather of the slice length
  (shape 4 B, value 4 B). Per worker: ``2·(N−1)·b·4d + 2·2·(N−1)/N·B·4d`` ≈ ``24·d·(N−1)·b``.
* every loss: an all-reduce of the local row count (4 B, the global batch of the mean);
* the gradients (Keras' optimizer all-reduces them): MF's are ``tf.IndexedSlices`` with one
  row per looked-up id, which MultiWorkerMirroredStrategy all-gathers: the lengths (4 B),
  the values (``r·d·4``) and the int64 indices (``r·8``), ``r = b`` rows per table (BPR's
  item table: ``2b``, positives and negatives); LightGCN's are dense ``(U+I) × d`` (the
  sparse-matmul propagation spreads every row's gradient over the graph), one packed
  all-reduce of ``(U+I)·d·4`` bytes;
* Keras' reduce of the loss log, ``strategy.reduce("MEAN", loss, axis=0)``: two scalar
  all-reduces (float32 sum, int64 count).

DirectSpec+ MF, in total: ``(N−1)·b·(32·d + 16)`` plus ``40·(N−1) + 32·(N−1)/N`` bytes of
small tensors, in 19 collectives (14 all-gathers, 5 all-reduces: ``24·(N−1)`` ring hops).
At B = 256, d = 64: 264 kB per worker per step at N = 2, 396 kB at N = 4. LightGCN DirectSpec+:
the loss terms plus ``2·(N−1)/N·(U+I)·d·4`` (CiteULike: 5.8 MB all-reduced per step).

Honest framing: this machine has 2 cores, which all the workers share. More workers
cannot make a step faster here; the point is the cost of the collectives (CPU time of
gRPC and of the collective executor, bytes, latency) at a fixed global batch.

    PYTHONPATH=. python pipelines/benchmarks/bench_multiworker.py --workers 1 2 4 --steps 300 \\
        --repeats 3 --out docs/benchmarks/multiworker_citeulike.json
    # also --tower lightgcn, --loss bpr (their CiteULike zoo entries); --batch-size, --dim,
    # --group-size (DirectSpec+ filtered in blocks within each worker: no row gathers)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _machine import cpu_model
from tfdirectspec import quiet_tensorflow_startup

#: Losses whose step all-gathers the batch's normalised rows (the spectral filter).
GATHERING_LOSSES = ("directspec", "directspec+")
#: Losses the analytic count covers.
COUNTED_LOSSES = (*GATHERING_LOSSES, "bpr")
#: Bytes of an id (the sampler's int64 ids index MF's tables, so its IndexedSlices are int64).
ID_BYTES = 8
#: Ethernet + IPv4 + TCP (with timestamps) header bytes of a loopback packet.
HEADER_BYTES = 14 + 20 + 32


# -- the analytic count -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Collective:
    """One collective of a training step, as one worker sees it.

    Attributes:
        name: what it carries.
        kind: ``"gather"`` (ring all-gather) or ``"reduce"`` (ring all-reduce).
        nbytes: for a gather, the bytes this worker contributes (its padded slice); for a
            reduce, the bytes of the tensor being reduced.
    """

    name: str
    kind: str
    nbytes: int

    def sent(self, workers: int) -> float:
        """Bytes each worker sends in a ring over ``workers`` workers."""
        if self.kind == "gather":
            return (workers - 1) * self.nbytes
        return 2 * (workers - 1) / workers * self.nbytes

    def hops(self, workers: int) -> int:
        """Sequential message rounds of the ring algorithm."""
        return (workers - 1) * (1 if self.kind == "gather" else 2)


def step_collectives(
    tower: str,
    loss: str,
    workers: int,
    batch: int,
    dim: int,
    num_users: int,
    num_items: int,
    group_size: int = 0,
) -> list[Collective]:
    """The collectives one multi-worker training step runs (none for one worker).

    See the module docstring for where each comes from. Float32 rows, int64 ids.
    DirectSpec+ with ``group_size > 0`` filters blocks within each worker's rows, so it
    gathers nothing (like BPR without the negatives).

    Example:
        >>> cs = step_collectives("mf", "directspec+", 2, 256, 64, 5551, 16980)
        >>> len(cs), sum(c.kind == "gather" for c in cs), round(sum(c.sent(2) for c in cs))
        (19, 14, 264248)
    """
    if tower not in ("mf", "lightgcn"):
        raise ValueError(f"unknown tower {tower!r}")
    if loss not in COUNTED_LOSSES:
        raise ValueError(f"no count for loss {loss!r} (counted: {', '.join(COUNTED_LOSSES)})")
    if workers < 1 or batch < workers or dim < 1:
        raise ValueError(f"need workers >= 1, batch >= workers, dim >= 1; got {workers}, {batch}")
    if workers == 1:
        return []
    rows = math.ceil(batch / workers)
    row_bytes = 4 * dim
    gathers_rows = loss in GATHERING_LOSSES and not (loss == "directspec+" and group_size)
    out: list[Collective] = []
    if gathers_rows:
        for table in ("user", "item"):
            out += [
                Collective(f"forward {table} rows: shape", "gather", 8),
                Collective(f"forward {table} rows", "gather", rows * row_bytes),
            ]
    out.append(Collective("global batch size", "reduce", 4))
    if gathers_rows:
        for table in ("user", "item"):
            out += [
                Collective(
                    f"backward {table} rows: gradient of the gather", "reduce", batch * row_bytes
                ),
                Collective(f"backward {table} rows: slice length, shape", "gather", 4),
                Collective(f"backward {table} rows: slice length", "gather", 4),
            ]
    if tower == "mf":
        for table in ("user", "item"):
            slices = rows * (2 if (loss == "bpr" and table == "item") else 1)
            out += [
                Collective(f"{table} gradient (IndexedSlices): lengths", "gather", 4),
                Collective(
                    f"{table} gradient (IndexedSlices): values", "gather", slices * row_bytes
                ),
                Collective(
                    f"{table} gradient (IndexedSlices): indices", "gather", slices * ID_BYTES
                ),
            ]
    else:
        out.append(
            Collective(
                "dense gradients of both tables (one pack)",
                "reduce",
                (num_users + num_items) * row_bytes,
            )
        )
    out += [
        Collective("loss log: sum", "reduce", 4),
        Collective("loss log: count", "reduce", 8),
    ]
    return out


def analytic_step(
    tower: str,
    loss: str,
    workers: int,
    batch: int,
    dim: int,
    num_users: int,
    num_items: int,
    group_size: int = 0,
) -> dict[str, Any]:
    """Bytes each worker sends per step, the collectives and their ring hops.

    Example:
        >>> a = analytic_step("mf", "directspec+", 4, 256, 64, 5551, 16980)
        >>> a["bytes_sent_per_worker"], a["collectives"], a["ring_hops"]
        (396432, 19, 72)
    """
    collectives = step_collectives(
        tower, loss, workers, batch, dim, num_users, num_items, group_size
    )
    return {
        "bytes_sent_per_worker": round(sum(c.sent(workers) for c in collectives)),
        "collectives": len(collectives),
        "all_gathers": sum(c.kind == "gather" for c in collectives),
        "all_reduces": sum(c.kind == "reduce" for c in collectives),
        "ring_hops": sum(c.hops(workers) for c in collectives),
        "breakdown": {c.name: round(c.sent(workers)) for c in collectives},
    }


def filter_flops(batch: int, dim: int, workers: int = 1, group_size: int = 0) -> float:
    """FLOPs per worker of DirectSpec+'s softmax filter in one step (forward + backward).

    Per table each worker's ``b = B/N`` rows meet the ``B`` gathered rows twice (logits
    ``x X_gᵀ`` and ``softmax · X_g``): ``2 · 2·b·B·d`` forward; backward ≈ 2 × forward;
    two tables: ``24·b·B·d``. With ``group_size = g`` each row meets the ``g`` rows of its
    block instead: ``24·b·g·d``. Row norms, softmax and loss are ``O(b·B)``, not counted.

    Example:
        >>> filter_flops(256, 64) / 1e6, filter_flops(4096, 64, group_size=256) / 1e6
        (100.663296, 1610.612736)
    """
    return 24.0 * (batch / workers) * (group_size or batch) * dim


# -- network counters --------------------------------------------------------------------------


def loopback_bytes() -> tuple[int, int]:
    """``(bytes, packets)`` received on ``lo`` so far (``/proc/net/dev``; 0, 0 if none)."""
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == "lo":
            fields = rest.split()
            return int(fields[0]), int(fields[1])
    return 0, 0


def tcp_received(ports: list[int]) -> dict[tuple[str, str], int]:
    """``bytes_received`` of every TCP socket with an end on one of ``ports`` (``ss -tin``).

    Keyed by ``(local, peer)`` address. Both ends of a loopback connection are listed, so
    the sum over sockets is every byte delivered between the cluster's processes.
    """
    ports_filter = " or ".join(f"sport = :{p} or dport = :{p}" for p in ports)
    text = subprocess.run(
        ["ss", "-tinH", f"( {ports_filter} )"], capture_output=True, text=True, check=True
    ).stdout
    sockets: dict[tuple[str, str], int] = {}
    key: tuple[str, str] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            fields = line.split()
            key = (fields[-2], fields[-1])
            sockets[key] = 0
        elif key is not None:
            found = re.search(r"\bbytes_received:(\d+)", line)
            if found:
                sockets[key] = int(found.group(1))
    return sockets


def tcp_delta(before: dict[tuple[str, str], int], after: dict[tuple[str, str], int]) -> int:
    """Bytes received between two :func:`tcp_received` snapshots (new sockets from 0)."""
    return sum(value - before.get(key, 0) for key, value in after.items())


def busy_processes() -> int:
    """Other processes running ``tfdirectspec train`` (they share the cores and ``lo``)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tfdirectspec" in b" ".join(argv) and b"train" in argv:
            count += 1
    return count


# -- the worker --------------------------------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    """One worker process: trains, times each epoch, writes ``<results>/worker-<rank>.json``."""
    import keras

    from tfdirectspec.distributed import ClusterSpec, make_strategy
    from tfdirectspec.training import TrainConfig, build_model, load_data, sampler_for, zoo_defaults

    multi = bool(os.environ.get("TF_CONFIG"))
    cluster = ClusterSpec.from_env() if multi else None
    rank = cluster.rank if cluster else 0
    workers = cluster.num_workers if cluster else 1
    ports = [int(a.rsplit(":", 1)[1]) for a in cluster.addresses] if cluster else []
    strategy = make_strategy("multi-worker" if multi else "default", cluster_timeout=120)
    config = bench_config(args, TrainConfig, zoo_defaults)
    data = load_data(config)
    sampler = sampler_for(config, data)

    class Probe(keras.callbacks.Callback):
        """Wall and CPU time of each epoch; on the chief, the network counters around it."""

        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[dict[str, float]] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            # Counters first, then the clocks: reading them is not part of the epoch.
            self._net = (tcp_received(ports), loopback_bytes()) if ports and rank == 0 else None
            self._cpu = sum(os.times()[:2])
            self._wall = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            record = {
                "seconds": time.perf_counter() - self._wall,
                "cpu_seconds": sum(os.times()[:2]) - self._cpu,
            }
            if self._net is not None:
                tcp, (lo_bytes, lo_packets) = tcp_received(ports), loopback_bytes()
                record["tcp_payload_bytes"] = tcp_delta(self._net[0], tcp)
                record["loopback_bytes"] = lo_bytes - self._net[1][0]
                record["loopback_packets"] = lo_packets - self._net[1][1]
            self.epochs.append(record)

    runs = []
    for requested in args.steps_per_execution if not multi else [1]:
        config.steps_per_execution = requested
        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            model = build_model(config, data, args.steps)
        probe = Probe()
        history = model.fit(
            distribute(sampler, strategy),
            epochs=1 + args.repeats,
            steps_per_epoch=args.steps,
            callbacks=[probe],
            verbose=0,
            shuffle=False,
        )
        runs.append(
            {
                "steps_per_execution": int(model.steps_per_execution),
                "epochs": probe.epochs[1:],  # the first traced the step
                "warmup_seconds": probe.epochs[0]["seconds"],
                "collective_ops_in_traced_step": collective_ops(model.train_function),
                "final_loss": float(history.history["loss"][-1]),
            }
        )
    report: dict[str, Any] = {
        "rank": rank,
        "workers": workers,
        "config": config.to_dict(),
        "data": {"users": data.num_users, "items": data.num_items, "train_pairs": data.train.nnz},
        "runs": runs,
        "replicas_in_sync": strategy.num_replicas_in_sync,
    }
    if multi:
        report["collective_timings"] = collective_timings(
            strategy, workers, math.ceil(config.batch_size / workers), config.dim
        )
    # ru_maxrss is in KiB on Linux: the process's peak resident memory.
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.results, f"worker-{rank}.json").write_text(json.dumps(report, indent=1))


def bench_config(args: argparse.Namespace, config_class: type, zoo_defaults: Any) -> Any:
    """The run's TrainConfig: the zoo entry of (dataset, tower, loss), batch and width set."""
    config = config_class().updated(zoo_defaults(args.dataset, args.tower, args.loss), "zoo")
    values: dict[str, Any] = {"dataset": args.dataset, "tower": args.tower, "loss": args.loss}
    if args.batch_size:
        values["batch_size"] = args.batch_size
    if args.dim:
        values["dim"] = args.dim
    if args.group_size is not None:
        values["group_size"] = args.group_size
    return config.updated(values, "bench").validate()


def distribute(sampler: Any, strategy: Any) -> Any:
    """The sampler's batches, split over the strategy's replicas (as ``tfdirectspec train``)."""
    from tfdirectspec.distributed import distributed_batches

    return distributed_batches(sampler, strategy)


def collective_ops(function: Any) -> dict[str, int]:
    """Collective ops in the traced train step, by op type (the most of any trace).

    Keras keeps its ``tf.function`` steps in the closures of ``model.train_function``;
    each trace's graph and its function library (nested functions, gradients, ``tf.cond``
    branches) are searched. Both branches of a ``tf.cond`` are in the graph, so ops of a
    branch that never runs count too (MWMS all-gathers IndexedSlices of unequal lengths
    with padding, in such a branch). Empty when nothing can be inspected (private APIs).
    """
    best: Counter[str] = Counter()
    for traced in traced_functions(function):
        try:
            concretes = traced._list_all_concrete_functions()
        except AttributeError:
            continue
        for concrete in concretes:
            graph_def = concrete.graph.as_graph_def()
            nodes = list(graph_def.node)
            for fn in graph_def.library.function:
                nodes += list(fn.node_def)
            counts = Counter(n.op for n in nodes if n.op.startswith("Collective"))
            if sum(counts.values()) > sum(best.values()):
                best = counts
    return dict(sorted(best.items()))


def traced_functions(function: Any, depth: int = 4) -> list[Any]:
    """The ``tf.function`` objects reachable from ``function`` through closures."""
    if hasattr(function, "_list_all_concrete_functions"):
        return [function]
    found: list[Any] = []
    cells = (getattr(function, "__closure__", None) or ()) if depth > 0 else ()
    for cell in cells:
        try:
            found += traced_functions(cell.cell_contents, depth - 1)
        except ValueError:  # an empty cell
            continue
    return found


def collective_timings(strategy: Any, workers: int, rows: int, dim: int) -> dict[str, Any]:
    """Seconds per collective of chains of dependent collectives (nothing else runs).

    ``allreduce_4B``: a float32 scalar all-reduce, its latency (``2·(N−1)`` ring hops);
    ``allgather_rows``: ``ReplicaContext.all_gather`` of ``rows × dim`` float32 rows, as
    the DirectSpec+ forward pass (two collectives: the shape, then the rows);
    ``allreduce_4MiB``: 4 MiB all-reduced, whose time is mostly bandwidth.
    """
    import tensorflow as tf

    def chain(make: Any, shape: list[int], rounds: int) -> Any:
        def replica_fn() -> tf.Tensor:
            context = tf.distribute.get_replica_context()
            x = tf.ones(shape)
            for _ in range(rounds):
                x = make(context, x)
            return tf.reduce_sum(x)

        return tf.function(lambda: strategy.run(replica_fn))

    def allreduce(context: Any, x: tf.Tensor) -> tf.Tensor:
        return context.all_reduce(tf.distribute.ReduceOp.SUM, x) / workers

    def allgather(context: Any, x: tf.Tensor) -> tf.Tensor:
        return context.all_gather(x, axis=0)[: tf.shape(x)[0]] * 0.5

    cases = {
        "allreduce_4B": (allreduce, [], 50, 4),
        "allgather_rows": (allgather, [rows, dim], 20, rows * dim * 4),
        "allreduce_4MiB": (allreduce, [1 << 20], 5, 4 << 20),
    }
    out: dict[str, Any] = {}
    for name, (make, shape, rounds, nbytes) in cases.items():
        run = chain(make, shape, rounds)
        run()  # trace
        seconds = []
        for _ in range(5):
            start = time.perf_counter()
            run()
            seconds.append((time.perf_counter() - start) / rounds)
        out[name] = {
            "tensor_bytes": nbytes,
            "seconds_per_collective_median": statistics.median(seconds),
            "seconds_per_collective_all": seconds,
            "rounds": rounds,
        }
    reduce_ = out["allreduce_4MiB"]
    reduce_["bytes_sent_per_worker"] = 2 * (workers - 1) / workers * (4 << 20)
    reduce_["sent_bytes_per_second"] = (
        reduce_["bytes_sent_per_worker"] / reduce_["seconds_per_collective_median"]
    )
    latency = out["allreduce_4B"]
    latency["seconds_per_hop"] = latency["seconds_per_collective_median"] / (2 * (workers - 1))
    return out


# -- the launcher ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The machine, without loading TensorFlow in the launcher (versions from metadata)."""
    from importlib.metadata import version

    return {
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": version("tensorflow"),
        "keras": version("keras"),
        "platform": platform.platform(),
    }


def run_workers(args: argparse.Namespace, workers: int, results: Path) -> None:
    """Runs ``workers`` worker processes (one: no cluster) and waits for them."""
    from tfdirectspec.distributed import LocalCluster

    argv = [sys.executable, os.path.abspath(__file__), "--worker", "--results", str(results)]
    argv += forwarded(args)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    if workers == 1:
        status = subprocess.run(argv, env=env).returncode
    else:
        status = LocalCluster(argv, workers, env=env, stdout=sys.stderr).run()
    if status != 0:
        raise SystemExit(f"bench_multiworker: {workers} worker(s) exited with status {status}")


def forwarded(args: argparse.Namespace) -> list[str]:
    """The flags a worker needs, from the launcher's."""
    out = ["--dataset", args.dataset, "--tower", args.tower, "--loss", args.loss]
    out += ["--steps", str(args.steps), "--repeats", str(args.repeats)]
    out += ["--steps-per-execution", *map(str, args.steps_per_execution)]
    if args.batch_size:
        out += ["--batch-size", str(args.batch_size)]
    if args.dim:
        out += ["--dim", str(args.dim)]
    if args.group_size is not None:
        out += ["--group-size", str(args.group_size)]
    return out


def summarise(reports: list[dict[str, Any]], steps: int) -> list[dict[str, Any]]:
    """One row per run (worker count × execution size) from the workers' reports."""
    chief = next(r for r in reports if r["rank"] == 0)
    workers = chief["workers"]
    config, data = chief["config"], chief["data"]
    analytic = analytic_step(
        config["tower"],
        config["loss"],
        workers,
        config["batch_size"],
        config["dim"],
        data["users"],
        data["items"],
        config["group_size"],
    )
    rows = []
    for index, run in enumerate(chief["runs"]):
        seconds = [e["seconds"] for e in run["epochs"]]
        cpu = [
            statistics.median(e["cpu_seconds"] for e in r["runs"][index]["epochs"]) for r in reports
        ]
        median = statistics.median(seconds)
        row: dict[str, Any] = {
            "workers": workers,
            "strategy": "multi-worker" if workers > 1 else "default",
            "steps_per_execution": run["steps_per_execution"],
            "steps_per_second_median": steps / median,
            "ms_per_step_median": 1000 * median / steps,
            "ms_per_step_all": [1000 * s / steps for s in seconds],
            "cpu_ms_per_step_per_worker_median": 1000 * statistics.median(cpu) / steps,
            "warmup_epoch_seconds": run["warmup_seconds"],
            "peak_rss_mb_per_worker": [round(r["peak_rss_mb"], 1) for r in reports],
            "collective_ops_in_traced_step": run["collective_ops_in_traced_step"],
            "final_loss": run["final_loss"],
            "analytic": analytic,
        }
        if workers > 1:
            per_step = workers * steps
            tcp = [e["tcp_payload_bytes"] / per_step for e in run["epochs"]]
            lo = [e["loopback_bytes"] / per_step for e in run["epochs"]]
            packets = [e["loopback_packets"] / per_step for e in run["epochs"]]
            row.update(
                tcp_payload_bytes_per_step_per_worker_median=statistics.median(tcp),
                tcp_payload_bytes_per_step_per_worker_all=tcp,
                loopback_bytes_per_step_per_worker_median=statistics.median(lo),
                loopback_packets_per_step_per_worker_median=statistics.median(packets),
                tcp_payload_over_analytic=statistics.median(tcp)
                / analytic["bytes_sent_per_worker"],
                tcp_payload_minus_analytic_per_collective=(
                    statistics.median(tcp) - analytic["bytes_sent_per_worker"]
                )
                / analytic["collectives"],
                collective_timings=chief["collective_timings"],
            )
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=300, help="steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs after a warm-up")
    parser.add_argument("--dataset", default="citeulike")
    parser.add_argument("--tower", default="mf", choices=["mf", "lightgcn"])
    parser.add_argument("--loss", default="directspec+", choices=list(COUNTED_LOSSES))
    parser.add_argument("--batch-size", type=int, default=0, help="global batch (0: zoo's)")
    parser.add_argument("--dim", type=int, default=0, help="embedding width (0: zoo's)")
    parser.add_argument("--group-size", type=int, help="DirectSpec+ softmax blocks (zoo's)")
    parser.add_argument(
        "--steps-per-execution",
        type=int,
        nargs="+",
        default=[1, 32],
        help="one worker: execution sizes to time (multi-worker is forced to 1)",
    )
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.steps < 1 or args.repeats < 1 or min(args.workers) < 1:
        parser.error("--steps, --repeats and --workers must be positive")

    load_start, busy_start = os.getloadavg(), busy_processes()
    rows = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            run_workers(args, workers, Path(folder))
            reports = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
        for row in summarise(reports, args.steps):
            row["wall_seconds_of_the_cluster"] = time.perf_counter() - started
            rows.append(row)
        print(f"bench_multiworker: {workers} worker(s) done", file=sys.stderr)
    chief_config = reports[0]["config"]
    single = [r for r in rows if r["workers"] == 1]
    base = min(single, key=lambda r: r["steps_per_execution"]) if single else None
    for row in rows:
        if base is not None:
            row["ms_per_step_over_one_worker_spe1"] = (
                row["ms_per_step_median"] / base["ms_per_step_median"]
            )
    result = {
        "benchmark": f"multi-worker {chief_config['tower']} {chief_config['loss']} "
        f"{chief_config['dataset']}: time and bytes per step",
        "command": " ".join([os.path.basename(sys.executable), *map(shlex.quote, sys.argv)]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "load_average_1_5_15min": {"start": list(load_start), "end": list(os.getloadavg())},
        "other_tfdirectspec_train_processes": {"start": busy_start, "end": busy_processes()},
        "steps_per_timed_epoch": args.steps,
        "repeats": args.repeats,
        "global_batch": chief_config["batch_size"],
        "dim": chief_config["dim"],
        "data": reports[0]["data"],
        "config": chief_config,
        "filter_flops_per_step_one_worker": (
            filter_flops(
                chief_config["batch_size"], chief_config["dim"], 1, chief_config["group_size"]
            )
            if chief_config["loss"] in GATHERING_LOSSES
            else 0.0
        ),
        "rows": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    # This script owns its process and imports TensorFlow only later: keep its
    # CPU-only start-up notices off stderr, as the command line does.
    quiet_tensorflow_startup()
    main()
