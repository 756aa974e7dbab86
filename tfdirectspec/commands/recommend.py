"""``tfdirectspec recommend``: top-K items for users, read from a SavedModel export.

Example::

    tfdirectspec recommend --model saved_models/citeulike-mf-directspec-plus --user 42 -k 10
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        help="print recommendations from an export (saved_models/NAME[/VERSION])",
        description=(
            "Load an export the way TF Serving does (by signature) and print the top "
            "K items of serving_default for each --user. An unknown user gets the most "
            "popular items, marked as such."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="PATH",
        help="saved_models/NAME (latest version) or saved_models/NAME/VERSION",
    )
    p.add_argument("--user", required=True, nargs="+", metavar="ID", help="raw user id(s)")
    p.add_argument(
        "-k",
        "--k",
        type=int,
        help="items per user (default 10, or the export's K if smaller)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from tfdirectspec.serving.recommend import recommend

    version_dir, results = recommend(args.model, args.user, k=args.k)
    if args.json:
        print(json.dumps({"model": str(version_dir), "users": results}, indent=2))
        return 0
    print(f"# {version_dir}")
    for entry in results:
        note = "" if entry["known_user"] else "  (unknown user: most popular items)"
        print(f"user {entry['user']}{note}")
        label = "score" if entry["known_user"] else "interactions"
        print(f"  {'rank':>4}  {'item':<24}  {label}")
        for rank, (item, score) in enumerate(zip(entry["items"], entry["scores"], strict=True), 1):
            print(f"  {rank:>4}  {str(item):<24}  {score:.6g}")
    return 0
