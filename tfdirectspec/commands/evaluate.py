"""``tfdirectspec evaluate``: full-ranking metrics of a trained run directory."""

from __future__ import annotations

import argparse
import json

from tfdirectspec.errors import InputError
from tfdirectspec.parameters import check_positive


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run directory")
    p.add_argument("run_dir")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="evaluate on this dataset instead of the run's")
    src.add_argument("--data-dir")
    p.add_argument("--split", choices=("test", "valid"), default="test")
    p.add_argument("--ks", type=int, nargs="+")
    p.add_argument(
        "--eval-users",
        type=int,
        metavar="N",
        help="evaluate a sample of N users (fixed by the run's seed) and report 95%% "
        "intervals (default: all users, exact)",
    )


def run(args: argparse.Namespace) -> int:
    if args.eval_users is not None:
        check_positive("eval_users", args.eval_users)
    from tfdirectspec.training.config import load_data
    from tfdirectspec.training.run_dir import Run

    run_dir = Run.open(args.run_dir)
    config = run_dir.config()
    other_data = bool(args.dataset or args.data_dir)
    if other_data:
        config = config.updated({"dataset": args.dataset, "data_dir": args.data_dir}, "flags")
    if args.ks:
        config = config.updated({"ks": args.ks}, "flags")
    config.validate()
    data = load_data(config)  # before TensorFlow: bad data fails fast
    from tfdirectspec.evaluation import full_ranking_metrics

    users, items = run_dir.tables()
    if (users.shape[0], items.shape[0]) != (data.num_users, data.num_items):
        raise InputError(
            f"{args.run_dir}: model has {users.shape[0]} users × {items.shape[0]} items, "
            f"the data {data.num_users} × {data.num_items}"
        )
    if args.split == "valid":
        target, exclude = data.valid, data.train
    else:
        target = data.test
        exclude = data.exclusions() if other_data else run_dir.exclusions()
    # Exact unless asked: the run's own eval_users governed its training, not this report.
    result = full_ranking_metrics(
        users,
        items,
        target,
        exclude=exclude,
        ks=config.ks,
        batch_size=config.eval_batch_size,
        sample_users=args.eval_users,
        seed=config.seed,
    )
    print(json.dumps({args.split: result}, indent=2))
    return 0
