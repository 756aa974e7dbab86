"""``pipelines/release/build_derived_datasets.py`` on tiny synthetic data (and the shared copy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipeline_modules import load_pipeline

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

bdd = load_pipeline("release/build_derived_datasets")


def _synthetic(num_users: int = 60, num_items: int = 80, seed: int = 0) -> bdd.Split:
    """Users with 2–12 distinct items each (popularity skewed), ~20 % of them in test."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, num_items + 1)
    weights /= weights.sum()
    train, test = [], []
    for user in range(num_users):
        items = rng.choice(num_items, size=int(rng.integers(2, 13)), replace=False, p=weights)
        cut = max(1, int(0.8 * len(items)))
        train += [(user, int(i)) for i in items[:cut]]
        test += [(user, int(i)) for i in items[cut:]]
    return bdd.Split(np.array(train, dtype=np.int64), np.array(test, dtype=np.int64))


def _write(split: bdd.Split, folder: Path) -> None:
    bdd.write_split(split, folder)


def _keys(pairs: np.ndarray) -> set[tuple[int, int]]:
    return {(int(u), int(i)) for u, i in pairs}


def _check_contiguous(split: bdd.Split) -> None:
    both = np.concatenate([split.train, split.test])
    assert np.array_equal(np.unique(both[:, 0]), np.arange(both[:, 0].max() + 1))
    assert np.array_equal(np.unique(both[:, 1]), np.arange(both[:, 1].max() + 1))
    assert not _keys(split.train) & _keys(split.test)


def test_sample_users_is_seeded_and_keeps_every_pair_of_a_user():
    split = _synthetic()
    a = bdd.sample_users(split, num_users=20, seed=3)
    b = bdd.sample_users(split, num_users=20, seed=3)
    c = bdd.sample_users(split, num_users=20, seed=4)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert not (np.array_equal(a.train, c.train) and np.array_equal(a.test, c.test))
    _check_contiguous(a)
    assert a.summary()["users"] <= 20
    assert set(np.unique(a.test[:, 0])) <= set(np.unique(a.train[:, 0]))
    assert set(np.unique(a.test[:, 1])) <= set(np.unique(a.train[:, 1]))  # no cold test item
    # Every train pair of a sampled user is kept (same number of train pairs per user profile).
    sizes = sorted(np.bincount(a.train[:, 0]))
    original = np.bincount(split.train[:, 0])
    assert all(size in set(original) for size in sizes)


def test_dense_subset_filters_items_and_users():
    split = _synthetic(num_users=200)
    dense = bdd.dense_subset(split, min_item_users=10, min_user_pairs=3)
    _check_contiguous(dense)
    both = np.concatenate([dense.train, dense.test])
    assert (np.bincount(both[:, 0]) >= 3).all()
    assert set(np.unique(dense.train[:, 0])) == set(np.unique(both[:, 0]))
    assert set(np.unique(dense.test[:, 0])) == set(np.unique(both[:, 0]))
    assert dense.summary()["density"] > split.summary()["density"]
    # Items kept had ≥ 10 users before the user filter, so their count now is ≤ that but > 0.
    all_pairs = np.concatenate([split.train, split.test])
    popular = np.flatnonzero(np.bincount(all_pairs[:, 1]) >= 10)
    assert dense.summary()["items"] <= popular.size


def test_resplit_is_a_per_user_partition_of_all_pairs():
    split = _synthetic()
    new = bdd.resplit(split, test_fraction=0.2, seed=1)
    assert np.array_equal(new.train, bdd.resplit(split, 0.2, seed=1).train)
    _check_contiguous(new)
    assert len(new.train) + len(new.test) == len(split.train) + len(split.test)
    train_n = np.bincount(new.train[:, 0], minlength=60)
    test_n = np.bincount(new.test[:, 0], minlength=60)
    total = train_n + test_n
    assert (train_n >= 1).all()
    expected = np.where(total >= 2, np.clip(np.rint(0.2 * total), 1, total - 1), 0)
    assert np.array_equal(test_n, expected)
    with pytest.raises(ValueError):
        bdd.resplit(split, test_fraction=1.0)


def test_build_all_writes_readable_files(tmp_path):
    source = tmp_path / "source"
    _write(_synthetic(seed=1), source / "gowalla")
    _write(_synthetic(num_users=150, seed=2), source / "citeulike")
    out = tmp_path / "out"
    summaries = bdd.build_all(source, out, seed=0, num_users=25, min_item_users=5)
    assert set(summaries) == set(bdd.DATASET_NAMES)
    for name, summary in summaries.items():
        split = bdd.read_split(out / name)
        assert split.summary()["pairs"] == summary["pairs"]
        assert bdd.format_summary(name, summary).startswith(name)
    again = bdd.build_all(source, tmp_path / "again", seed=0, num_users=25, min_item_users=5)
    assert again == summaries
    with pytest.raises(ValueError):
        bdd.build_all(source, out, names=("nope",))


def test_main_prints_a_summary(tmp_path, capsys):
    source = tmp_path / "source"
    _write(_synthetic(num_users=150, seed=2), source / "citeulike")
    code = bdd.main(
        ["--source", str(source), "--output", str(tmp_path / "o"), "--only", "citeulike-resplit"]
    )
    assert code == 0
    assert "citeulike-resplit" in capsys.readouterr().out


@pytest.mark.skipif(
    not (SHARED / "citeulike" / "train.tsv").is_file(), reason="no ../shared/data/citeulike"
)
@pytest.mark.slow
def test_on_the_shared_citeulike(tmp_path):
    summaries = bdd.build_all(
        SHARED, tmp_path, seed=0, names=("citeulike-dense", "citeulike-resplit")
    )
    assert (
        summaries["citeulike-resplit"]["pairs"]
        == bdd.read_split(SHARED / "citeulike").summary()["pairs"]
    )
    assert summaries["citeulike-dense"]["density"] > summaries["citeulike-resplit"]["density"]


@pytest.mark.slow
def test_default_source_is_the_library_citeulike(tmp_path, capsys):
    """Without ``--source`` the originals come from ``load_dataset`` (here the embedded one)."""
    assert bdd.main(["--output", str(tmp_path), "--only", "citeulike-resplit"]) == 0
    assert "citeulike-resplit" in capsys.readouterr().out
    split = bdd.dataset_split("citeulike")
    assert split.summary()["pairs"] == 210504  # distinct train ∪ test pairs
    assert bdd.read_split(tmp_path / "citeulike-resplit").summary()["pairs"] == 210504
    if (SHARED / "citeulike" / "train.tsv").is_file():  # the same pairs as the TSV copy
        shared = bdd.read_split(SHARED / "citeulike")
        assert np.array_equal(split.train, shared.train)
        assert np.array_equal(split.test, shared.test)
