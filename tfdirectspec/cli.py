"""The ``tfdirectspec`` command: a thin layer over :mod:`tfdirectspec.training`.

``tfdirectspec train`` (no flags) trains DirectSpec+ MF on the embedded
CiteULike with the zoo's hyper-parameters and prints its test metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tfdirectspec.errors import InputError

EXIT_USAGE = 2
EXIT_FAILED = 1


def _train_parser(sub: argparse._SubParsersAction) -> None:
    from tfdirectspec.training.config import LOSSES, OPTIMIZERS, SAMPLERS, TOWERS

    p = sub.add_parser("train", help="train a model and evaluate it")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="a dataset by name (default: citeulike, embedded)")
    src.add_argument("--data-dir", help="a folder with train.(tsv|csv|txt) and test.*")
    p.add_argument("--config", help="a TOML file of training keys (overrides the zoo entry)")
    p.add_argument("--tower", choices=TOWERS)
    p.add_argument("--layers", type=int, help="LightGCN propagation layers")
    p.add_argument("--combination", choices=("mean", "sum"), help="LightGCN layer combination")
    p.add_argument("--loss", choices=LOSSES)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--dim", type=int, help="embedding size")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float)
    p.add_argument("--lr-decay", type=float, help="per-epoch learning-rate factor")
    p.add_argument("--alpha", type=float)
    p.add_argument("--tau", type=float)
    p.add_argument("--tau0", type=float, help="adaptive τ for pairs sharing an interaction")
    p.add_argument("--tau1", type=float, help="adaptive τ for the other pairs")
    p.add_argument("--shrink", type=float, help="norm shrink s (0 = off)")
    p.add_argument("--reg", type=float, help="L2 weight")
    p.add_argument("--gamma", type=float, help="DirectAU uniformity weight")
    p.add_argument("--temperature", type=float, help="sampled-softmax temperature")
    p.add_argument("--sampler", choices=SAMPLERS)
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--valid-fraction",
        type=float,
        help="validation share of each user's train items (0 = authors' protocol)",
    )
    p.add_argument("--eval-every", type=int, help="evaluate every N epochs")
    p.add_argument("--ks", type=int, nargs="+", help="cut-offs K (default 10 20)")
    p.add_argument(
        "--track-test",
        action="store_true",
        default=None,
        help="also log test metrics at each evaluation (curves only)",
    )
    p.add_argument("--steps-per-execution", type=int)
    p.add_argument("--output", help="run directory to write (default runs/<name>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None)


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run directory")
    p.add_argument("run_dir")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="evaluate on this dataset instead of the run's")
    src.add_argument("--data-dir")
    p.add_argument("--split", choices=("test", "valid"), default="test")
    p.add_argument("--ks", type=int, nargs="+")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfdirectspec",
        description="Train and evaluate DirectSpec/DirectSpec+ recommenders (Keras 3).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _evaluate_parser(sub)
    return parser


def resolve_config(args: argparse.Namespace):
    """defaults < zoo entry < --config file < flags."""
    from tfdirectspec.training.config import TrainConfig, read_config_file
    from tfdirectspec.training.zoo import entry_name, zoo_defaults

    skip = {"command", "config", "output", "overwrite", "verbose"}
    flags = {k: v for k, v in vars(args).items() if k not in skip and v is not None}
    if "data_dir" in flags:
        flags["dataset"] = None
    file_values = read_config_file(args.config) if args.config else {}
    base = TrainConfig()
    key = base.updated(file_values, args.config or "config").updated(flags, "flags")
    zoo = zoo_defaults(key.dataset, key.tower, key.loss)
    config = base.updated(zoo, "zoo").updated(file_values, args.config or "config")
    config = config.updated(flags, "flags")
    if not config.name:
        config.name = entry_name(
            config.dataset or Path(config.data_dir).name, config.tower, config.loss
        )
    return config.validate()


def cmd_train(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    from tfdirectspec.training.run_dir import check_output, write_run

    output = Path(args.output or f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    check_output(output, args.overwrite)
    from tfdirectspec.training.trainer import train

    verbose = "auto" if args.verbose is None else args.verbose
    result = train(config, verbose=verbose)
    write_run(output, result.model, result.metrics, result.data, overwrite=args.overwrite)
    m = result.metrics
    print(
        json.dumps(
            {
                "output": str(output),
                "test": m["test"],
                "valid": m["valid"],
                "best_epoch": m["best_epoch"],
                "seconds_per_epoch": m["seconds_per_epoch"],
                "erank": m["erank"],
            },
            indent=2,
        )
    )
    if result.failure:
        print(f"tfdirectspec: training stopped: {result.failure}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
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


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InputError as e:
        print(f"tfdirectspec: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tfdirectspec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
