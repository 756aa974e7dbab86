"""``tfdirectspec evaluate``: full-ranking metrics of a trained run directory."""

from __future__ import annotations

import argparse

from tfdirectspec.commands import add_data_flags, data_flag_values
from tfdirectspec.errors import InputError
from tfdirectspec.json_output import to_json
from tfdirectspec.parameters import check_positive


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run directory")
    p.add_argument("run_dir")
    # The data flags train and tune take (default: the run's data, read and split as it was).
    add_data_flags(p, valid_help="validation share of each user's train items")
    p.add_argument(
        "--on", choices=("test", "valid"), default="test", help="the split to rank (default test)"
    )
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
    data_flags = data_flag_values(args)
    other_data = bool(args.dataset or args.data_dir)
    if data_flags:
        config = config.updated(data_flags, "flags")
    if args.ks:
        config = config.updated({"ks": args.ks}, "flags")
    config.validate()
    data = load_data(config)  # before TensorFlow: bad data fails fast
    if args.on == "valid":
        target, exclude = data.valid, data.train
    else:
        target = data.test
        exclude = data.exclusions() if other_data else run_dir.exclusions()
    if target.nnz == 0:
        how = "--valid-fraction F" if args.on == "valid" else "a test file or --test-fraction F"
        raise InputError(
            f"{args.run_dir}: the data has no {args.on} split to evaluate (give {how})"
        )
    from tfdirectspec.evaluation import full_ranking_metrics

    users, items = run_dir.tables()
    if (users.shape[0], items.shape[0]) != (data.num_users, data.num_items):
        raise InputError(
            f"{args.run_dir}: model has {users.shape[0]} users × {items.shape[0]} items, "
            f"the data {data.num_users} × {data.num_items}"
        )
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
    print(to_json({args.on: result}, indent=2))
    return 0
