"""Peak memory of one training process against the memory formula of a worker.

Every worker of a ``MultiWorkerMirroredStrategy`` run holds a full copy of the model
(the strategy mirrors variables, it does not split them), so one process's memory is
the bound for any number of workers. :func:`memory_bytes` is that bound, in bytes, for
``P = (U + I)·d·4`` (both float32 tables):

* tables ``P``, and once more ``P`` for their initial values (the Glorot-uniform tensors
  are materialised before they are copied into the variables; freed afterwards, but the
  peak is reached and the allocator keeps the pages: measured, ``2P`` right after building
  an MF model); optimizer slots: SGD none, Adam ``2P`` (first and second moments);
* Keras 3's Adam updates densely: ``m += (g − m)·(1 − β₁)`` turns an ``IndexedSlices``
  gradient into a dense ``(rows × d)`` tensor, and a few such temporaries (the gradient,
  ``g − m``, ``g²``, the update) are alive during a table's update: ``~2P`` transient
  (an estimate, checked by this benchmark); SGD applies MF's sparse gradient in place;
* LightGCN: the graph, stored as COO weights (int64 pairs + float32 values: ``20·nnz``
  bytes) and converted every step to TensorFlow CSR matrices of ``R̂`` and ``R̂ᵀ`` (int32
  column indices and row pointers, float32 values: ``2·8·nnz + 4·(U+I)``); the
  propagation's live activations (``E``, the current layer, the running sum, their
  gradients: at most ``(L + 1)·P`` in the formula) and its dense gradient ``P``;
* the sampler's graph constants (the training CSR: int32 item indices, int64 row pointers
  and active users: ``≈ 4·nnz + 16·U``), and the batch (ids, and ``B × B`` uint8 masks with
  adaptive τ); LazyAdam (``lazy-adam``) keeps Adam's two slots but updates the batch's rows
  only, so it has no dense transients.

This benchmark trains a few steps in a fresh process per case and reports the peak
resident memory (``VmHWM``) above the process's resident memory once TensorFlow is
loaded and the data built (``VmRSS``), next to the formula. By default: the embedded
CiteULike (MF, SGD: the 5.8 MB tables vanish in the runtime's noise), then a synthetic
random graph large enough that the model dominates (``--users``, ``--items``,
``--pairs``; default 1 M users, 1 M items, 5 M pairs: ``P`` = 512 MiB at d = 64) for MF and
LightGCN with SGD and with Adam.

    PYTHONPATH=. python pipelines/benchmarks/bench_memory.py \\
        --out docs/benchmarks/memory_peak_rss.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _machine import cpu_model
from tfdirectspec import quiet_tensorflow_startup

MIB = 1 << 20
#: (name, dataset or "synthetic", tower, optimizer) of the default cases.
CASES = (
    ("citeulike-mf-sgd", "citeulike", "mf", "sgd"),
    ("synthetic-mf-sgd", "synthetic", "mf", "sgd"),
    ("synthetic-mf-adam", "synthetic", "mf", "adam"),
    ("synthetic-lightgcn-sgd", "synthetic", "lightgcn", "sgd"),
    ("synthetic-lightgcn-adam", "synthetic", "lightgcn", "adam"),
)


def memory_bytes(
    tower: str,
    optimizer: str,
    users: int,
    items: int,
    dim: int,
    pairs: int,
    layers: int = 3,
    batch: int = 256,
    adaptive: bool = False,
) -> dict[str, float]:
    """The formula: bytes one worker needs beyond the runtime, by component, and ``total``.

    Example:
        >>> m = memory_bytes("mf", "adam", 1_000_000, 1_000_000, 64, 5_000_000)
        >>> [round(m[k] / 2**20) for k in ("tables", "optimizer_slots", "total")]
        [488, 977, 2964]
    """
    if tower not in ("mf", "lightgcn") or optimizer not in ("sgd", "adam", "lazy-adam"):
        raise ValueError(f"unknown tower or optimizer: {tower!r}, {optimizer!r}")
    rows = users + items
    tables = 4.0 * rows * dim
    out = {
        "tables": tables,
        "initial_values": tables,
        # LazyAdam also keeps each row's last up-to-date step (int64).
        "optimizer_slots": (2 * tables if optimizer in ("adam", "lazy-adam") else 0.0)
        + (8.0 * rows if optimizer == "lazy-adam" else 0.0),
        "optimizer_transients": 2 * tables if optimizer == "adam" else 0.0,
        "graph": 0.0,
        "propagation": 0.0,
        "sampler": 4.0 * pairs + 16.0 * users,
        "batch": batch * 3 * 8 + (2 * batch * batch if adaptive else 0),
    }
    if tower == "lightgcn":
        out["graph"] = 20.0 * pairs + 2 * 8.0 * pairs + 4.0 * rows
        out["propagation"] = (layers + 1) * tables + tables  # activations + dense gradient
    out["total"] = sum(out.values())
    return out


def largest_rows(
    budget: float,
    tower: str,
    optimizer: str,
    dim: int,
    pairs_per_row: float,
    layers: int = 3,
    runtime: float = 1.0 * (1 << 30),
) -> int:
    """The most ``users + items`` rows that fit in ``budget`` bytes (the formula is linear).

    ``pairs_per_row`` is the training pairs per node (CiteULike: 166,003 / 22,531 ≈ 7.4;
    Gowalla: 810,128 / 70,839 ≈ 11.4); users are taken as half the rows for the sampler
    term; ``runtime`` is the TensorFlow process itself (about 0.7 GiB measured, 1 GiB
    assumed).

    Example:
        >>> round(largest_rows(24 * 2**30, "mf", "adam", 64, 7.4) / 1e6, 1)
        15.7
    """
    per_row = memory_bytes(tower, optimizer, 2, 2, dim, round(4 * pairs_per_row), layers, 0)
    slope = per_row["total"] / 4  # bytes per row: every term is linear in the rows
    return int(max(budget - runtime, 0) // slope)


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def synthetic_data(users: int, items: int, pairs: int, seed: int = 0) -> Any:
    """A random binary ``users × items`` training matrix with about ``pairs`` pairs."""
    import numpy as np
    import scipy.sparse as sp

    from tfdirectspec.data import InteractionData

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, users, pairs, dtype=np.int64)
    cols = rng.integers(0, items, pairs, dtype=np.int64)
    train = sp.csr_matrix((np.ones(pairs, np.float32), (rows, cols)), shape=(users, items))
    train.sum_duplicates()
    train.data[:] = 1.0
    empty = sp.csr_matrix((users, items), dtype=np.float32)
    return InteractionData(
        train, empty, empty, np.arange(users), np.arange(items), name="synthetic"
    )


def run_case(args: argparse.Namespace) -> dict[str, Any]:
    """One case in this process: load, build, train ``--steps`` steps; memory at each point."""
    import keras

    from tfdirectspec.training import TrainConfig, build_model, load_data, sampler_for

    marks = {"tensorflow_loaded": status_kib("VmRSS")}
    config = TrainConfig(
        dataset=args.dataset if args.dataset != "synthetic" else None,
        data_dir=None,
        tower=args.tower,
        optimizer=args.optimizer,
        lr=1e-3 if args.optimizer == "adam" else 1.0,
        dim=args.dim,
        steps_per_execution=1,
    )
    if args.dataset == "synthetic":
        data = synthetic_data(args.users, args.items, args.pairs)
    else:
        data = load_data(config)
    marks["data_built"] = status_kib("VmRSS")
    sampler = sampler_for(config, data)
    keras.utils.set_random_seed(0)
    model = build_model(config, data, args.steps)
    model.optimizer.build(model.trainable_variables)
    marks["model_built"] = status_kib("VmRSS")
    marks["peak_after_build"] = status_kib("VmHWM")
    model.fit(sampler.stream(), epochs=1, steps_per_epoch=args.steps, verbose=0, shuffle=False)
    marks["after_training"] = status_kib("VmRSS")
    marks["peak"] = status_kib("VmHWM")
    formula = memory_bytes(
        args.tower,
        args.optimizer,
        data.num_users,
        data.num_items,
        args.dim,
        data.train.nnz,
        config.layers,
        config.batch_size,
    )
    measured = (marks["peak"] - marks["data_built"]) * 1024
    return {
        "users": data.num_users,
        "items": data.num_items,
        "train_pairs": data.train.nnz,
        "dim": args.dim,
        "tower": args.tower,
        "optimizer": args.optimizer,
        "steps": args.steps,
        "rss_mib": {k: round(v / 1024, 1) for k, v in marks.items()},
        "measured_peak_above_data_mib": round(measured / MIB, 1),
        "formula_mib": {k: round(v / MIB, 1) for k, v in formula.items()},
        "measured_over_formula": round(measured / formula["total"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=[c[0] for c in CASES])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=5_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="training steps per case")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # a worker: one case
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--tower", help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args)))
        return
    known = {c[0]: c for c in CASES}
    unknown = sorted(set(args.cases) - set(known))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)} (known: {', '.join(known)})")
    results = {}
    for name in args.cases:
        _, dataset, tower, optimizer = known[name]
        argv = [sys.executable, os.path.abspath(__file__), "--case", name]
        argv += ["--dataset", dataset, "--tower", tower, "--optimizer", optimizer]
        argv += ["--users", str(args.users), "--items", str(args.items)]
        argv += ["--pairs", str(args.pairs), "--dim", str(args.dim), "--steps", str(args.steps)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench_memory: case {name} failed:\n{done.stderr[-2000:]}")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"bench_memory: {name} done", file=sys.stderr)
    from importlib.metadata import version

    report = {
        "benchmark": "peak resident memory of one training process vs the memory formula",
        "command": " ".join([os.path.basename(sys.executable), *map(shlex.quote, sys.argv)]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "cpu": cpu_model(),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "tensorflow": version("tensorflow"),
            "keras": version("keras"),
        },
        "cases": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    # This script owns its process and imports TensorFlow only later: keep its
    # CPU-only start-up notices off stderr, as the command line does.
    quiet_tensorflow_startup()
    main()
