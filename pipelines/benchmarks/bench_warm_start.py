"""Warm start: epochs to reach a cold run's validation NDCG@20 when the log grows.

CiteULike with the product's split (its test split, ``--valid-fraction 0.1``, seed 0) is
the *grown* log. The *earlier* log is its training pairs of a seeded ``--share`` of the
users (the others are new users; items only they touched are new items), and never
holds a validation or test pair of the grown log. The zoo's DirectSpec+ MF recipe
trains ``--base-epochs`` on the earlier log (a finished run), then ``--epochs`` on the
grown log twice, evaluated on validation every ``--eval-every`` epochs:

- cold: a fresh initialisation (``tfdirectspec train --valid-fraction 0.1``);
- warm: ``--warm-start`` the earlier run (its users' and items' rows, matched by raw id).

Reported: the cold run's best validation NDCG@20 and its epoch, the first epoch at which
the warm run reaches it (and 90 % / 95 % of it, for both runs), and each run's test
NDCG@20 at its best validation epoch.

Example::

    python pipelines/benchmarks/bench_warm_start.py --base-epochs 40 --epochs 40 \\
        --out docs/benchmarks/warm_start_citeulike.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def recipe(epochs: int, eval_every: int, seed: int, **extra):
    """The zoo's CiteULike DirectSpec+ MF recipe with the given schedule."""
    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.zoo import zoo_defaults

    config = TrainConfig().updated(zoo_defaults("citeulike", "mf", "directspec+"), "zoo")
    values = {"epochs": epochs, "eval_every": eval_every, "ks": (20,), "seed": seed, **extra}
    return config.updated(values, "bench")


def first_epoch(history: list[dict], level: float) -> int | None:
    """The first evaluated epoch whose validation NDCG@20 is at least ``level``."""
    for record in history:
        if record["valid"]["ndcg@20"] >= level:
            return int(record["epoch"])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.9, help="users of the earlier log")
    parser.add_argument("--base-epochs", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the earlier run (default: temp)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from tfdirectspec.data.interactions import from_columns
    from tfdirectspec.training.config import load_data
    from tfdirectspec.training.run_dir import Run
    from tfdirectspec.training.trainer import train

    grown = load_data(recipe(1, 1, args.seed, valid_fraction=0.1))
    rng = np.random.default_rng(args.seed)
    share = rng.choice(grown.num_users, int(round(args.share * grown.num_users)), False)
    earlier_train = grown.train[np.sort(share)].tocoo()
    users = grown.user_ids[np.sort(share)]
    earlier = from_columns(
        (users[earlier_train.row], grown.item_ids[earlier_train.col]), name="citeulike-earlier"
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-warm-"))
    base_dir = work / "earlier"
    started = time.perf_counter()
    base_config = recipe(args.base_epochs, args.base_epochs, args.seed)
    base = train(base_config, data=earlier, verbose=0)
    run = Run.create(base_dir, overwrite=True)
    run.write_config(base_config)
    run.commit(base.model, base.metrics, base.data)
    base_seconds = time.perf_counter() - started
    print(f"earlier run: {earlier.summary()} in {base_seconds:.0f} s", flush=True)

    results = {}
    for name, extra in (("cold", {}), ("warm", {"warm_start": str(base_dir)})):
        config = recipe(args.epochs, args.eval_every, args.seed, valid_fraction=0.1, **extra)
        started = time.perf_counter()
        result = train(config, data=grown, verbose=0)
        results[name] = {
            "seconds": round(time.perf_counter() - started, 1),
            "history": [
                {"epoch": r["epoch"], "valid_ndcg@20": r["valid"]["ndcg@20"]}
                for r in result.metrics["history"]
            ],
            "best_epoch": result.metrics["best_epoch"],
            "best_valid_ndcg@20": result.metrics["valid"]["ndcg@20"],
            "test_ndcg@20": result.metrics["test"]["ndcg@20"],
            "warm_start": result.metrics.get("warm_start"),
            "_records": result.metrics["history"],
        }
        done = results[name]
        print(
            f"{name}: best valid {done['best_valid_ndcg@20']:.4f} at epoch "
            f"{done['best_epoch']} ({done['seconds']} s)",
            flush=True,
        )

    target = results["cold"]["best_valid_ndcg@20"]
    reach = {}
    for name, r in results.items():
        records = r.pop("_records")
        reach[name] = {
            f"{int(100 * f)}%": first_epoch(records, f * target) for f in (0.9, 0.95, 1.0)
        }
    print(f"\ncold best validation NDCG@20: {target:.4f} (epoch {results['cold']['best_epoch']})")
    print("| run | epochs to 90 % | to 95 % | to 100 % | best valid NDCG@20 | test NDCG@20 |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        e = reach[name]
        print(f"| {name} | {e['90%']} | {e['95%']} | {e['100%']} | "
              f"{r['best_valid_ndcg@20']:.4f} | {r['test_ndcg@20']:.4f} |")  # fmt: skip
    record = {
        "dataset": "citeulike",
        "recipe": "models/citeulike-mf-directspec-plus.toml",
        "grown_log": grown.summary(),
        "earlier_log": earlier.summary(),
        "earlier_run": {"epochs": args.base_epochs, "seconds": round(base_seconds, 1)},
        "epochs": args.epochs,
        "eval_every": args.eval_every,
        "cold_best_valid_ndcg@20": target,
        "epochs_to_reach_cold_best": reach,
        "runs": results,
        "command": "python pipelines/benchmarks/bench_warm_start.py " + " ".join(sys.argv[1:]),
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
