"""``tfdirectspec recommend``: top-K items for users of a run or an export.

Examples::

    # print, from an export (through its serving_default signature)
    tfdirectspec recommend --model saved_models/citeulike-mf-directspec-plus --user 42 -k 10
    # every user of a run, to a file (Parquet or CSV, by the suffix)
    tfdirectspec recommend --model runs/mf --all --k 20 --output recs.parquet
    # the users listed in a file (one raw id per line)
    tfdirectspec recommend --model runs/mf --users users.txt --k 20 --output recs.csv
    # a new user given as the items they touched (folded in, no retraining)
    tfdirectspec recommend --model runs/mf --items 3 17 256 --k 10

A file holds rows ``user_id, rank, item_id, score`` (raw ids; rank 1 is the best), the
user's seen items (a run's train and validation items, an export's exclusions) never
among them. It is written in blocks of ``--block-size`` users and appears under its
name only once complete. An unknown user id is an error when writing a file; printed,
it gets the most popular items, marked as such.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tfdirectspec.json_output import to_json
from tfdirectspec.parameters import ParameterError

DEFAULT_BLOCK_SIZE = 4096  # tfdirectspec.serving.batch.DEFAULT_BLOCK_SIZE (no TF import here)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        help="recommendations of a run or an export: printed, or written to a file",
        description=(
            "Top K unseen items for users of a run directory or an export "
            "(saved_models/NAME[/VERSION]): --user IDs and --users FILE print them, or "
            "with --output write a .parquet/.csv file of user_id, rank, item_id, score "
            "(--all: every user). --items folds in a new user from the items they "
            "touched. Printed, an unknown user gets the most popular items, marked."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="PATH",
        help="a run directory, saved_models/NAME (latest version) or saved_models/NAME/VERSION",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", nargs="+", metavar="ID", help="raw user id(s)")
    who.add_argument("--users", metavar="FILE", help="a file of raw user ids, one per line")
    who.add_argument("--all", action="store_true", help="every user of the model (needs --output)")
    who.add_argument(
        "--items", nargs="+", metavar="ID", help="a new user, as the raw ids of items they touched"
    )
    p.add_argument(
        "-k",
        "--k",
        type=int,
        help="items per user (default 10; printed from an export, at most its K)",
    )
    p.add_argument("--output", metavar="FILE", help="write a .parquet or .csv file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument(
        "--block-size",
        type=int,
        default=DEFAULT_BLOCK_SIZE,
        metavar="N",
        help=f"users per written block (default {DEFAULT_BLOCK_SIZE})",
    )
    p.add_argument(
        "--fold-in",
        choices=("mean", "ridge"),
        help="--items on a run: mean of the items' unit rows (default) or ridge least "
        "squares (an export folds in with the method it was exported with)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    _check_flags(args)
    from tfdirectspec.serving.sources import is_run_dir

    if args.output is not None:
        return _write_file(args)
    if args.items is not None:
        if is_run_dir(args.model):
            model, result = _fold_in_from_run(args)
        else:
            from tfdirectspec.serving.recommend import recommend_for_items

            model, result = recommend_for_items(args.model, args.items, k=args.k)
        return _print_fold_in(model, result, args.json)
    users = args.user if args.user is not None else read_user_file(args.users)[0]
    if is_run_dir(args.model):
        model, results = _recommend_from_run(args.model, users, args.k)
    else:
        from tfdirectspec.serving.recommend import recommend

        model, results = recommend(args.model, users, k=args.k)
    return _print_users(model, results, args.json)


def _check_flags(args: argparse.Namespace) -> None:
    """Flag combinations, checked before anything loads."""
    from tfdirectspec.parameters import check_positive

    check_positive("block_size", args.block_size)
    if args.k is not None:
        check_positive("k", args.k)
    if args.all and args.output is None:
        raise ParameterError("all", "writes a file: give output", related=("output",))
    if args.items is not None and args.output is not None:
        raise ParameterError("output", "takes users (--user, --users, --all), not --items")
    if args.fold_in is not None and args.items is None:
        raise ParameterError("fold_in", "applies to --items only")
    if args.output is not None:
        from tfdirectspec.serving.recs_file import output_format

        output_format(args.output, args.overwrite)
    if args.users is not None and not Path(args.users).is_file():
        raise ParameterError("users", f"{args.users}: no such file")


def read_user_file(path: str) -> tuple[list[str], list[int]]:
    """``(raw ids, line numbers)`` of a file with one raw user id per line (blank lines skipped).

    Raises:
        ParameterError: (naming ``users``) the file cannot be read or holds no id.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ParameterError("users", f"{path}: unreadable ({error})") from None
    ids, lines = [], []
    for number, line in enumerate(text.splitlines(), 1):
        value = line.strip()
        if value:
            ids.append(value)
            lines.append(number)
    if not ids:
        raise ParameterError("users", f"{path}: no user id in the file")
    return ids, lines


def _write_file(args: argparse.Namespace) -> int:
    from tfdirectspec.serving.batch import write_recommendations
    from tfdirectspec.serving.recommender import Recommender

    recommender = Recommender.open(args.model)
    k = recommender.check_k(10 if args.k is None else args.k)
    if args.all:
        import numpy as np

        users = np.arange(recommender.num_users)
    elif args.users is not None:
        ids, lines = read_user_file(args.users)
        users = recommender.user_index(ids, where=lambda j: f"{args.users}:{lines[j]}")
    else:
        users = recommender.user_index(args.user, where="--user")
    summary = write_recommendations(
        recommender, users, k, args.output, block_size=args.block_size, overwrite=args.overwrite
    )
    print(to_json({"model": str(args.model), "k": k, **summary}, indent=2))
    return 0


def _recommend_from_run(
    model: str, users: list[str], k: int | None
) -> tuple[str, list[dict[str, Any]]]:
    """The entries :func:`_print_users` prints, scored from a run's tables."""
    from tfdirectspec.serving.recommender import Recommender

    recommender = Recommender.open(model)
    k = recommender.check_k(10 if k is None else k)
    index = recommender.user_index_or_unknown(users, where="--user")
    known = index >= 0
    items, scores = recommender.top_k(index[known], k)
    popular_items, popular_counts = recommender.popular(k)
    item_ids, user_ids = recommender.tables.item_ids, recommender.tables.user_ids
    results, row = [], 0
    for j, user in enumerate(users):
        if known[j]:
            finite = scores[row] > float("-inf")
            entry_items, entry_scores = items[row][finite], scores[row][finite]
            raw, row = user_ids[index[j]], row + 1
        else:
            entry_items, entry_scores, raw = popular_items, popular_counts, user
        results.append(
            {
                "user": _plain(raw),
                "known_user": bool(known[j]),
                "items": [_plain(v) for v in item_ids[entry_items]],
                "scores": [float(v) for v in entry_scores],
            }
        )
    return model, results


def _fold_in_from_run(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    from tfdirectspec.serving.recommender import Recommender

    recommender = Recommender.open(args.model, fold_in=args.fold_in or "mean")
    k = recommender.check_k(10 if args.k is None else args.k)
    given = recommender.item_index(args.items, where="--items")
    index, scores = recommender.fold_in_top_k(given, k)
    finite = scores > float("-inf")
    item_ids = recommender.tables.item_ids
    return args.model, {
        "given": [_plain(v) for v in item_ids[given]],
        "items": [_plain(v) for v in item_ids[index[finite]]],
        "scores": [float(v) for v in scores[finite]],
    }


def _print_users(model: Any, results: list[dict[str, Any]], as_json: bool) -> int:
    if as_json:
        print(to_json({"model": str(model), "users": results}, indent=2))
        return 0
    print(f"# {model}")
    for entry in results:
        note = "" if entry["known_user"] else "  (unknown user: most popular items)"
        print(f"user {entry['user']}{note}")
        label = "score" if entry["known_user"] else "interactions"
        _print_rows(entry["items"], entry["scores"], label)
    return 0


def _print_fold_in(model: Any, result: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(to_json({"model": str(model), "new_user": result}, indent=2))
        return 0
    print(f"# {model}")
    print(f"new user from {len(result['given'])} item(s), folded in")
    _print_rows(result["items"], result["scores"], "score")
    return 0


def _print_rows(items: list, scores: list, label: str) -> None:
    print(f"  {'rank':>4}  {'item':<24}  {label}")
    for rank, (item, score) in enumerate(zip(items, scores, strict=True), 1):
        print(f"  {rank:>4}  {str(item):<24}  {score:.6g}")


def _plain(value: Any) -> int | str:
    """A raw id as JSON takes it."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, str) else int(value)


__all__ = ["add_parser", "read_user_file", "run"]
