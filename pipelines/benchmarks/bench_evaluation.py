"""Benchmark of ``full_ranking_metrics`` (and ``effective_ranks``) on a CiteULike-sized problem.

Times one full evaluation: every test user scored against all items, train items masked,
top-K for K in ``--ks``. The split is a named dataset's (``--dataset``, default the
embedded CiteULike, through :func:`tfdirectspec.data.load_dataset`), a folder's
(``--data-dir`` holding ``train.tsv`` and ``test.tsv``, ``user<TAB>item`` integer lines),
or, with ``--dataset random``, a random one of ``--num-users`` × ``--num-items``.
Embedding tables are random normal (the timing does not depend on their values). After one
warm-up call (tracing), the median of ``--runs`` calls is reported with the machine and the
command, as one JSON line on stdout.

Run from the repository root:

    python pipelines/benchmarks/bench_evaluation.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from _machine import cpu_model


def load_pairs(path: Path, num_users: int, num_items: int) -> np.ndarray:
    """``user<TAB>item`` integer lines as an ``[n, 2]`` int64 array, ids checked in range."""
    pairs = np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)
    if pairs.shape[1] != 2:
        raise SystemExit(f"{path}: expected two columns, got {pairs.shape[1]}")
    if pairs.size and (
        pairs.min() < 0 or pairs[:, 0].max() >= num_users or pairs[:, 1].max() >= num_items
    ):
        raise SystemExit(
            f"{path}: ids outside {num_users} users x {num_items} items "
            "(see --num-users / --num-items)"
        )
    return pairs


def to_csr(pairs: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Binary CSR from pairs, duplicates collapsed."""
    matrix = sp.csr_matrix(
        (np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])), shape=shape
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def random_split(
    num_users: int, num_items: int, n_train: int, n_test: int, rng: np.random.Generator
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random train/test matrices with about ``n_train`` / ``n_test`` distinct pairs."""
    train = rng.integers(0, [num_users, num_items], size=(n_train, 2))
    test = rng.integers(0, [num_users, num_items], size=(n_test, 2))
    return to_csr(train, (num_users, num_items)), to_csr(test, (num_users, num_items))


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset",
        default="citeulike",
        help="a dataset name of tfdirectspec.data.load_dataset, or 'random' (default: citeulike)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory with train.tsv and test.tsv (instead of --dataset)",
    )
    parser.add_argument("--num-users", type=int, default=5551, help="--data-dir and random")
    parser.add_argument("--num-items", type=int, default=16980, help="--data-dir and random")
    parser.add_argument("--train-pairs", type=int, default=166025, help="random split only")
    parser.add_argument("--test-pairs", type=int, default=44512, help="random split only")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument(
        "--max-block-scores", type=int, default=2**24, help="scores per block (memory bound)"
    )
    parser.add_argument(
        "--eval-users", type=int, default=None, help="rank a seeded sample of this many users"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # Imported here so that --help is instant.
    import tensorflow as tf

    from tfdirectspec.evaluation import effective_ranks, full_ranking_metrics

    rng = np.random.default_rng(args.seed)
    shape = (args.num_users, args.num_items)
    if args.data_dir is not None:
        train_pairs = load_pairs(args.data_dir / "train.tsv", *shape)
        test_pairs = load_pairs(args.data_dir / "test.tsv", *shape)
        train, test = to_csr(train_pairs, shape), to_csr(test_pairs, shape)
        source = str(args.data_dir)
    elif args.dataset == "random":
        train, test = random_split(*shape, args.train_pairs, args.test_pairs, rng)
        source = "random"
    else:
        from tfdirectspec.data import load_dataset
        from tfdirectspec.errors import InputError

        try:
            data = load_dataset(args.dataset)
        except InputError as error:
            parser.error(f"--dataset: {error}")
        train, test = data.train.tocsr(), data.test.tocsr()
        shape = train.shape
        source = f"load_dataset({args.dataset!r})"
    users = rng.standard_normal((shape[0], args.dim)).astype(np.float32)
    items = rng.standard_normal((shape[1], args.dim)).astype(np.float32)

    def evaluate() -> dict[str, float]:
        return full_ranking_metrics(
            users,
            items,
            test,
            exclude=train,
            ks=args.ks,
            batch_size=args.batch_size,
            max_block_scores=args.max_block_scores,
            sample_users=args.eval_users,
            seed=args.seed,
        )

    start = time.perf_counter()
    metrics = evaluate()
    warmup = time.perf_counter() - start
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        evaluate()
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    spectrum = effective_ranks(users, items)
    spectrum_time = time.perf_counter() - start

    record = {
        "benchmark": "full_ranking_metrics",
        "command": shlex.join(sys.orig_argv),
        "data": source,
        "users": shape[0],
        "items": shape[1],
        "dim": args.dim,
        "train_pairs": int(train.nnz),
        "test_pairs": int(test.nnz),
        "ks": args.ks,
        "batch_size": args.batch_size,
        "max_block_scores": args.max_block_scores,
        "eval_users": args.eval_users,
        "warmup_s": round(warmup, 4),
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "runs": [round(t, 4) for t in times],
        "effective_ranks_s": round(spectrum_time, 4),
        "users_evaluated": metrics["users_evaluated"],
        "users_skipped": metrics["users_skipped"],
        "recall@20_random_tables": metrics.get("recall@20"),
        "erank_all_random_tables": round(spectrum["all"], 3),
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model(),
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
    }
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
