"""``tfdirectspec export``: write a finished run as a TF Serving SavedModel version.

Example::

    tfdirectspec export runs/mf --to saved_models/mf --k 20
    # -> saved_models/mf/1/ (then 2/, 3/ ... on later exports; never overwritten)
"""

from __future__ import annotations

import argparse

from tfdirectspec.json_output import to_json
from tfdirectspec.parameters import DEFAULT_K


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained run for TF Serving (saved_models/NAME/<version>)",
        description=(
            "Write RUN_DIR as the next integer version of the model base path --to "
            "(TF Serving layout), with serving_default (top-K items per user, training "
            "items excluded), user_embeddings, item_embeddings, score and "
            "recommend_for_items (a new user given as items, folded in) signatures."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished `tfdirectspec train` run")
    p.add_argument(
        "--to", required=True, metavar="DIR", help="model base path, e.g. saved_models/NAME"
    )
    p.add_argument(
        "--k", type=int, default=DEFAULT_K, help=f"recommendations per user (default {DEFAULT_K})"
    )
    p.add_argument(
        "--fold-in",
        choices=("mean", "ridge"),
        default="mean",
        help="how recommend_for_items folds a new user in from their items (default mean)",
    )
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="do not write assets.extra/tf_serving_warmup_requests",
    )
    p.add_argument(
        "--no-models-config",
        action="store_true",
        help="do not (re)write models.config beside the model folder",
    )
    p.add_argument(
        "--serving-root",
        default="/models",
        help="where the parent of --to is mounted in the server (models.config base paths)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tfdirectspec.serving import export_run, write_models_config

    # None: write warm-up requests when tensorflow-serving-api is installed.
    warmup = False if args.no_warmup else None
    version_dir = export_run(args.run_dir, args.to, k=args.k, warmup=warmup, fold_in=args.fold_in)
    result = {"export": str(version_dir), "version": int(version_dir.name), "k": args.k}
    if not args.no_models_config:
        result["models_config"] = str(write_models_config(Path(args.to).parent, args.serving_root))
    print(to_json(result, indent=2))
    return 0
