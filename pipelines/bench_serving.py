"""Latency of the ``serving_default`` signature on a Gowalla-sized export.

Builds an export of Gowalla's size (29,858 users × 40,981 items, 810,128
training interactions excluded in sparse form, d = 64, random tables and a
random interaction pattern: the latency does not depend on their values),
loads it with ``tf.saved_model.load`` and calls the signature the way TF
Serving does, by name, with 1 user and with 1,024 users per call. After
warm-up calls, it reports p50/p99 latency in milliseconds, with the machine
and the command, as one JSON line on stdout.

Run from the repository root (``-m`` puts it on the import path):

    python -m pipelines.bench_serving                 # K = 20
    python -m pipelines.bench_serving --export saved_models/NAME/1   # a real export

The issue's target is p50 ≤ 5 ms for one user on the 2-core CPU machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

#: Gowalla (LightGCN split): users, items, training interactions.
GOWALLA = (29_858, 40_981, 810_128)


def synthetic_tables(users: int, items: int, interactions: int, dim: int, seed: int):
    """Random tables and a random binary ``users × items`` exclusion matrix of that size."""
    from tfdirectspec.serving import ExportTables

    rng = np.random.default_rng(seed)
    # Draw a few more pairs than needed so that, after de-duplication, about
    # `interactions` remain; every user gets at least one.
    rows = np.concatenate([np.arange(users), rng.integers(0, users, interactions - users)])
    cols = rng.integers(0, items, rows.size)
    exclude = sp.csr_matrix(
        (np.ones(rows.size, np.float32), (rows, cols)), shape=(users, items), dtype=np.float32
    )
    exclude.sum_duplicates()
    exclude.data[:] = 1.0
    scale = 1.0 / np.sqrt(dim)
    return ExportTables(
        rng.normal(0, scale, (users, dim)).astype(np.float32),
        rng.normal(0, scale, (items, dim)).astype(np.float32),
        np.arange(users, dtype=np.int64),
        np.arange(items, dtype=np.int64),
        exclude,
    )


def time_calls(fn, batches: list, repeats: int) -> list[float]:
    """Wall time in ms of ``fn(user_ids=batch)`` for each batch, cycled ``repeats`` times."""
    out = []
    for r in range(repeats):
        batch = batches[r % len(batches)]
        start = time.perf_counter()
        result = fn(user_ids=batch)
        result["item_ids"].numpy()  # make sure the result is materialised
        out.append((time.perf_counter() - start) * 1e3)
    return out


def percentiles(ms: list[float]) -> dict[str, float]:
    values = np.asarray(ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "mean_ms": round(float(values.mean()), 3),
        "calls": int(values.size),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", help="benchmark this version folder instead of a synthetic one")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--single-calls", type=int, default=1000, help="1-user calls timed")
    parser.add_argument("--batch-calls", type=int, default=30, help="1,024-user calls timed")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from tfdirectspec.serving import export_tables, read_info

    with tempfile.TemporaryDirectory() as tmp:
        if args.export:
            version = Path(args.export)
        else:
            start = time.perf_counter()
            tables = synthetic_tables(*GOWALLA, dim=args.dim, seed=args.seed)
            version = export_tables(tables, Path(tmp) / "gowalla", k=args.k, warmup=False)
            print(f"exported in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        info = read_info(version)
        size = sum(p.stat().st_size for p in version.rglob("*") if p.is_file())
        served = tf.saved_model.load(str(version))
        fn = served.signatures["serving_default"]
        ids = served.user_ids.numpy()
        rng = np.random.default_rng(args.seed + 1)

        def batches(size: int, count: int) -> list:
            return [tf.constant(rng.choice(ids, size)) for _ in range(count)]

        single, many = batches(1, 200), batches(args.batch_size, 8)
        time_calls(fn, single, 50)  # warm-up: tracing, thread pools, caches
        time_calls(fn, many, 3)
        one_user = percentiles(time_calls(fn, single, args.single_calls))
        batched = percentiles(time_calls(fn, many, args.batch_calls))

    record = {
        "benchmark": "serving_default via tf.saved_model.load",
        "export": {
            "users": info["num_users"],
            "items": info["num_items"],
            "dim": info["dim"],
            "k": info["k"],
            "size_mib": round(size / 2**20, 1),
            "source": args.export or "synthetic Gowalla-sized",
        },
        "one_user": one_user,
        f"users_{args.batch_size}": batched,
        "target_p50_one_user_ms": 5.0,
        "meets_target": one_user["p50_ms"] <= 5.0,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
        },
        "command": shlex.join(["python", "-m", "pipelines.bench_serving", *(argv or sys.argv[1:])]),
    }
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
