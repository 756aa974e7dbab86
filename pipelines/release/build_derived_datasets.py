"""Builds derived datasets for checking that default recipes do not depend on the dataset.

Three regimes, each written as ``OUTPUT/NAME/train.tsv`` and ``OUTPUT/NAME/test.tsv``
(``user<TAB>item``, contiguous 0-based ids, one line per distinct pair):

- ``gowalla-small``: a seeded sample of about 2,000 Gowalla users (among those with at least
  one train and one test pair) with all their train and test pairs. Test pairs whose item
  never occurs in the sample's train split are dropped (no collaborative model can rank them).
- ``citeulike-dense``: CiteULike restricted to the items with at least ``--min-item-users``
  distinct users (train ∪ test counted), then to the users that keep at least
  ``--min-user-pairs`` pairs with at least one of them in train and one in test; the original
  train/test assignment of each pair is kept.
- ``citeulike-resplit``: CiteULike train ∪ test re-split at random per user, ``--test-fraction``
  of each user's items (rounded, at least one) to test; users with a single pair stay in train.

Everything is deterministic given ``--seed``. Interactions stay as ``[n, 2]`` integer arrays;
no dense users × items matrix is built.

The originals come from the library, :func:`tfdirectspec.data.load_dataset`: CiteULike is
embedded, Gowalla is read from ``$TFDIRECTSPEC_DATA/gowalla`` when that folder exists, else
downloaded once (checksum-verified). ``--source DIR`` reads ``DIR/gowalla`` and
``DIR/citeulike`` (``train.tsv`` and ``test.tsv`` each) instead.

Usage, from the repository root::

    PYTHONPATH=. python pipelines/release/build_derived_datasets.py --output derived --seed 0
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfdirectspec.data.readers import read_interactions
from tfdirectspec.errors import InputError

#: Names of the datasets this script can build, in build order.
DATASET_NAMES = ("gowalla-small", "citeulike-dense", "citeulike-resplit")


@dataclass(frozen=True)
class Split:
    """A train/test pair of ``[n, 2]`` int64 arrays of ``(user, item)`` ids."""

    train: np.ndarray
    test: np.ndarray

    def summary(self) -> dict[str, float]:
        """Counts and density: users, items, train/test/total pairs, pairs / (users · items)."""
        both = np.concatenate([self.train, self.test])
        users = int(np.unique(both[:, 0]).size)
        items = int(np.unique(both[:, 1]).size)
        pairs = int(len(both))
        return {
            "users": users,
            "items": items,
            "train": int(len(self.train)),
            "test": int(len(self.test)),
            "pairs": pairs,
            "density": pairs / max(1, users * items),
            "pairs_per_user": pairs / max(1, users),
            "pairs_per_item": pairs / max(1, items),
        }


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct ``(user, item)`` rows of ``pairs``, sorted by user then item."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return pairs
    return np.unique(pairs, axis=0)


def read_split(folder: Path) -> Split:
    """Reads ``folder/train.tsv`` and ``folder/test.tsv`` (duplicates dropped).

    A pair present in both files is kept in train only.
    """
    train = unique_pairs(read_interactions(folder / "train.tsv"))
    test = unique_pairs(read_interactions(folder / "test.tsv"))
    return Split(train, _without(test, train))


def dataset_split(name: str) -> Split:
    """The train/test pairs of a named dataset (:func:`tfdirectspec.data.load_dataset`).

    Pairs carry the dataset's raw integer ids, as :func:`read_split` of its files gives them
    (duplicates dropped, a pair in both splits kept in train only).
    """
    from tfdirectspec.data import load_dataset

    data = load_dataset(name)

    def pairs(matrix) -> np.ndarray:
        coo = matrix.tocoo()
        raw = np.stack([data.user_ids[coo.row], data.item_ids[coo.col]], axis=1)
        return unique_pairs(raw.astype(np.int64))

    train = pairs(data.train)
    return Split(train, _without(pairs(data.test), train))


def _pair_keys(pairs: np.ndarray, num_items: int) -> np.ndarray:
    """One int64 key per pair (``user · num_items + item``)."""
    return pairs[:, 0] * np.int64(num_items) + pairs[:, 1]


def _without(pairs: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Rows of ``pairs`` that are not rows of ``other``."""
    if len(pairs) == 0 or len(other) == 0:
        return pairs
    num_items = int(max(pairs[:, 1].max(), other[:, 1].max())) + 1
    keep = ~np.isin(_pair_keys(pairs, num_items), _pair_keys(other, num_items))
    return pairs[keep]


def reindex(split: Split) -> Split:
    """Maps the users and items of ``split`` to contiguous 0-based ids (order preserved)."""
    both = np.concatenate([split.train, split.test])
    users, user_idx = np.unique(both[:, 0], return_inverse=True)
    items, item_idx = np.unique(both[:, 1], return_inverse=True)
    mapped = np.stack([user_idx, item_idx], axis=1).astype(np.int64)
    del users, items
    return Split(mapped[: len(split.train)], mapped[len(split.train) :])


def users_with_train_and_test(split: Split) -> np.ndarray:
    """Sorted ids of the users with at least one train and one test pair."""
    return np.intersect1d(np.unique(split.train[:, 0]), np.unique(split.test[:, 0]))


def drop_cold_test_items(split: Split) -> Split:
    """Drops test pairs whose item has no train pair."""
    warm = np.isin(split.test[:, 1], np.unique(split.train[:, 1]))
    return Split(split.train, split.test[warm])


def sample_users(split: Split, num_users: int, seed: int) -> Split:
    """A seeded sample of ``num_users`` users (with train and test pairs) and all their pairs.

    Test pairs of items absent from the sample's train pairs are dropped; users left without
    a test pair are dropped. Ids are made contiguous.
    """
    eligible = users_with_train_and_test(split)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(eligible, size=min(num_users, eligible.size), replace=False))
    sub = Split(
        split.train[np.isin(split.train[:, 0], chosen)],
        split.test[np.isin(split.test[:, 0], chosen)],
    )
    sub = drop_cold_test_items(sub)
    keep = users_with_train_and_test(sub)
    sub = Split(sub.train[np.isin(sub.train[:, 0], keep)], sub.test[np.isin(sub.test[:, 0], keep)])
    return reindex(sub)


def dense_subset(split: Split, min_item_users: int = 20, min_user_pairs: int = 5) -> Split:
    """Keeps items with ≥ ``min_item_users`` users, then users with enough pairs on them.

    Item popularity counts distinct users over train ∪ test. A user is kept when, after the
    item filter, they have at least ``min_user_pairs`` pairs, at least one of them in train
    and one in test. The original train/test assignment is kept; ids are made contiguous.
    """
    both = np.concatenate([split.train, split.test])
    items, counts = np.unique(both[:, 1], return_counts=True)
    popular = items[counts >= min_item_users]
    train = split.train[np.isin(split.train[:, 1], popular)]
    test = split.test[np.isin(split.test[:, 1], popular)]
    users, per_user = np.unique(np.concatenate([train[:, 0], test[:, 0]]), return_counts=True)
    enough = users[per_user >= min_user_pairs]
    keep = np.intersect1d(enough, users_with_train_and_test(Split(train, test)))
    return reindex(Split(train[np.isin(train[:, 0], keep)], test[np.isin(test[:, 0], keep)]))


def resplit(split: Split, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """A fresh random per-user split of train ∪ test.

    Each user with ``n ≥ 2`` distinct items gets ``clip(round(test_fraction · n), 1, n − 1)``
    of them, chosen uniformly at random, in test; users with one item keep it in train.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    both = unique_pairs(np.concatenate([split.train, split.test]))
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(both)), both[:, 0]))  # by user, random within a user
    both = both[order]
    users, starts, counts = np.unique(both[:, 0], return_index=True, return_counts=True)
    del users
    n_test = np.clip(np.rint(test_fraction * counts).astype(np.int64), 1, None)
    n_test = np.where(counts >= 2, np.minimum(n_test, counts - 1), 0)
    rank = np.arange(len(both)) - np.repeat(starts, counts)
    is_test = rank < np.repeat(n_test, counts)
    return reindex(Split(unique_pairs(both[~is_test]), unique_pairs(both[is_test])))


def write_split(split: Split, folder: Path) -> None:
    """Writes ``folder/train.tsv`` and ``folder/test.tsv``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, pairs in (("train", split.train), ("test", split.test)):
        np.savetxt(folder / f"{name}.tsv", pairs, fmt="%d", delimiter="\t")


def build_all(
    source: Path | None,
    output: Path,
    seed: int = 0,
    names: tuple[str, ...] = DATASET_NAMES,
    num_users: int = 2000,
    min_item_users: int = 20,
    min_user_pairs: int = 5,
    test_fraction: float = 0.2,
) -> dict[str, dict[str, float]]:
    """Builds the ``names`` datasets from ``source/{gowalla,citeulike}`` into ``output``.

    With ``source`` ``None`` the originals come from :func:`dataset_split`.

    Returns:
        The summary of each dataset written, by name.
    """
    cache: dict[str, Split] = {}

    def load(name: str) -> Split:
        if name not in cache:
            cache[name] = dataset_split(name) if source is None else read_split(source / name)
        return cache[name]

    builders = {
        "gowalla-small": lambda: sample_users(load("gowalla"), num_users, seed),
        "citeulike-dense": lambda: dense_subset(load("citeulike"), min_item_users, min_user_pairs),
        "citeulike-resplit": lambda: resplit(load("citeulike"), test_fraction, seed),
    }
    summaries = {}
    for name in names:
        if name not in builders:
            raise ValueError(f"unknown dataset {name!r} (known: {', '.join(DATASET_NAMES)})")
        split = builders[name]()
        write_split(split, output / name)
        summaries[name] = split.summary()
    return summaries


def format_summary(name: str, summary: dict[str, float]) -> str:
    """One line: name, users, items, train/test pairs and density."""
    return (
        f"{name:18s} users {summary['users']:6d}  items {summary['items']:6d}  "
        f"pairs {summary['pairs']:7d} (train {summary['train']:7d}, test {summary['test']:6d})  "
        f"density {summary['density']:.5f}  pairs/user {summary['pairs_per_user']:.1f}  "
        f"pairs/item {summary['pairs_per_item']:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="folder holding gowalla/ and citeulike/ train.tsv and test.tsv "
        "(default: the library's datasets, see tfdirectspec.data.load_dataset)",
    )
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=DATASET_NAMES, default=list(DATASET_NAMES))
    parser.add_argument("--num-users", type=int, default=2000, help="gowalla-small users")
    parser.add_argument("--min-item-users", type=int, default=20, help="citeulike-dense items")
    parser.add_argument("--min-user-pairs", type=int, default=5, help="citeulike-dense users")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="citeulike-resplit")
    args = parser.parse_args(argv)
    if args.source is not None:
        for name in ("citeulike", "gowalla"):
            folder = args.source / name
            if (folder / "train.tsv").is_file() and (folder / "test.tsv").is_file():
                print(format_summary(name, read_split(folder).summary()))
    try:
        summaries = build_all(
            args.source,
            args.output,
            seed=args.seed,
            names=tuple(args.only),
            num_users=args.num_users,
            min_item_users=args.min_item_users,
            min_user_pairs=args.min_user_pairs,
            test_fraction=args.test_fraction,
        )
    except InputError as error:  # e.g. Gowalla neither local nor downloadable
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name, summary in summaries.items():
        print(format_summary(name, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
