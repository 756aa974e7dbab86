"""``tfdirectspec synthesize``: write a synthetic log with a planted rank-R model.

    tfdirectspec synthesize --pairs 1000000 --output data/synth1m [--format parquet]

Generates about ``--pairs`` distinct (user, item) pairs with power-law user activity and
item popularity and a planted rank-``--rank`` preference structure
(:mod:`tfdirectspec.data.synthetic`), splits them into train and test, and writes
``DIR/train.tsv``, ``DIR/test.tsv`` (or ``.parquet``), ``DIR/truth.npz`` and
``DIR/synthetic.json`` (:mod:`tfdirectspec.data.synthetic_write`). Unless
``--no-quality``, the JSON also records the test NDCG/Recall@20 of the planted model
against popularity (:mod:`tfdirectspec.evaluation.planted`).
"""

from __future__ import annotations

import argparse
import time

from tfdirectspec.errors import InputError

#: Cut-off of the planted-quality check.
QUALITY_K = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synthesize",
        help="write a synthetic log (power-law degrees, planted rank-R model)",
        description="Generate about --pairs distinct user-item pairs with power-law user "
        "activity and item popularity and a planted rank --rank topic model, split them "
        "into train and test, and write them to --output (train/test files, truth.npz with "
        "the planted tables, synthetic.json with parameters, counts and the oracle vs "
        "popularity check).",
        epilog="example: tfdirectspec synthesize --pairs 1000000 --output data/synth1m",
    )
    p.add_argument("--pairs", type=int, required=True, metavar="N", help="pairs to generate")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--output", required=True, metavar="DIR", help="folder to write")
    p.add_argument(
        "--format", choices=("tsv", "parquet"), default="tsv", help="file format (default tsv)"
    )
    p.add_argument(
        "--id-type", choices=("int", "str"), default="int", help="raw id type (default int)"
    )
    p.add_argument("--rank", type=int, default=16, help="planted topics (default 16)")
    p.add_argument("--users", type=int, help="number of users (default ceil(pairs / 40))")
    p.add_argument("--items", type=int, help="number of items (default max(pairs // 80, 160))")
    p.add_argument(
        "--test-fraction", type=float, default=0.2, help="share held out to test (default 0.2)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--no-quality", action="store_true", help="skip the oracle vs popularity check")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tfdirectspec.data.synthetic import synthesize
    from tfdirectspec.data.synthetic_write import write_synthetic

    output = Path(args.output)
    # Checked before generating: a long run must not fail at the very end.
    if output.exists() and not args.overwrite:
        raise InputError(f"--output {output} exists (use --overwrite to replace it)")
    start = time.perf_counter()
    data = synthesize(
        args.pairs,
        seed=args.seed,
        rank=args.rank,
        users=args.users,
        items=args.items,
        test_fraction=args.test_fraction,
        id_type=args.id_type,
    )
    seconds = {"generate": round(time.perf_counter() - start, 2)}
    extra = {}
    if not args.no_quality and len(data.test):
        from tfdirectspec.evaluation.planted import planted_quality

        start = time.perf_counter()
        extra["quality"] = planted_quality(data, ks=(min(QUALITY_K, data.num_items),))
        seconds["quality"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    extra["seconds"] = seconds
    write_synthetic(data, output, fmt=args.format, overwrite=args.overwrite, extra=extra)
    seconds["write"] = round(time.perf_counter() - start, 2)
    pairs = len(data.train) + len(data.test)
    print(
        f"{pairs} pairs ({len(data.train)} train, {len(data.test)} test), "
        f"{data.num_users} users, {data.num_items} items, rank {args.rank}"
    )
    if "quality" in extra:
        k = extra["quality"]["ks"][0]
        oracle, popularity = extra["quality"]["oracle"], extra["quality"]["popularity"]
        print(
            f"ndcg@{k}: oracle {oracle[f'ndcg@{k}']:.4f}, popularity "
            f"{popularity[f'ndcg@{k}']:.4f} ({extra['quality']['users_evaluated']} users)"
        )
    print(f"seconds: {seconds}")
    print(f"output: {output}")
    return 0
