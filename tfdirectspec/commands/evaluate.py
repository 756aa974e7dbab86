"""``tfdirectspec evaluate``: full-ranking metrics of a trained run directory."""

from __future__ import annotations

import argparse
import json

from tfdirectspec.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run directory")
    p.add_argument("run_dir")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="evaluate on this dataset instead of the run's")
    src.add_argument("--data-dir")
    p.add_argument("--split", choices=("test", "valid"), default="test")
    p.add_argument("--ks", type=int, nargs="+")


def run(args: argparse.Namespace) -> int:
    from tfdirectspec.evaluation import full_ranking_metrics
    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.run_dir import load_model, read_metrics
    from tfdirectspec.training.trainer import load_data

    metrics = read_metrics(args.run_dir)
    config = TrainConfig().updated(metrics["config"], f"{args.run_dir}/metrics.json")
    if args.dataset or args.data_dir:
        config = config.updated({"dataset": args.dataset, "data_dir": args.data_dir}, "flags")
    if args.ks:
        config = config.updated({"ks": args.ks}, "flags")
    config.validate()
    data = load_data(config)
    model = load_model(args.run_dir)
    users, items = (t.numpy() for t in model.tables())
    if (users.shape[0], items.shape[0]) != (data.num_users, data.num_items):
        raise InputError(
            f"{args.run_dir}: model has {users.shape[0]} users × {items.shape[0]} items, "
            f"the data {data.num_users} × {data.num_items}"
        )
    if args.split == "valid":
        target, exclude = data.valid, [data.train]
    else:
        target = data.test
        exclude = [data.train, data.valid] if data.valid.nnz else [data.train]
    result = full_ranking_metrics(
        users, items, target, exclude=exclude, ks=config.ks, batch_size=config.eval_batch_size
    )
    print(json.dumps({args.split: result}, indent=2))
    return 0
