"""``tfdirectspec train``: train a model, evaluate it, write a run directory."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_FAILED = 1


def add_parser(sub: argparse._SubParsersAction) -> None:
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


def run(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    from tfdirectspec.training.run_dir import RunWriter
    from tfdirectspec.training.trainer import train

    output = Path(args.output or f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    writer = RunWriter(output, overwrite=args.overwrite)
    verbose = "auto" if args.verbose is None else args.verbose
    try:
        result = train(config, callbacks=extra_callbacks(args, writer), verbose=verbose)
        writer.commit(result.model, result.metrics, result.data)
    except BaseException:
        writer.abort()
        raise
    m = result.metrics
    summary = {
        "output": str(output),
        "test": m["test"],
        "valid": m["valid"],
        "best_epoch": m["best_epoch"],
        "seconds_per_epoch": m["seconds_per_epoch"],
        "erank": m["erank"],
    }
    print(json.dumps(summary, indent=2))
    if result.failure:
        print(f"tfdirectspec: training stopped: {result.failure}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def extra_callbacks(args: argparse.Namespace, writer) -> list:
    """Callbacks the command adds to the library's own (logging, diagnostics)."""
    return []
