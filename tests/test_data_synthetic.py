"""The synthetic log generator: reproducible, power-law, planted rank, files, CLI errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from tfdirectspec.cli import main
from tfdirectspec.data import synthetic_write
from tfdirectspec.data.readers import read_interactions
from tfdirectspec.data.synthetic import MAX_INT_ID, synthesize
from tfdirectspec.data.synthetic_write import write_synthetic
from tfdirectspec.errors import InputError
from tfdirectspec.evaluation.planted import planted_quality

SMALL = dict(pairs=20_000, rank=8, users=500, items=2000)


@pytest.fixture(scope="module")
def data():
    return synthesize(seed=3, **SMALL)


def _keys(pairs: np.ndarray, items: int) -> np.ndarray:
    return pairs[:, 0].astype(np.int64) * items + pairs[:, 1]


def test_same_seed_same_files_other_seed_other_data(tmp_path):
    outs = [
        write_synthetic(synthesize(seed=seed, **SMALL), tmp_path / name)
        for name, seed in (("a", 1), ("b", 1), ("c", 2))
    ]
    for name in ("train.tsv", "test.tsv", "synthetic.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    a, b = np.load(outs[0] / "truth.npz"), np.load(outs[1] / "truth.npz")
    for name in ("user_ids", "item_ids", "user_mix", "item_weights"):
        np.testing.assert_array_equal(a[name], b[name])
    assert (outs[0] / "train.tsv").read_bytes() != (outs[2] / "train.tsv").read_bytes()


def test_sizes_no_duplicates_and_split(data):
    assert (data.num_users, data.num_items) == (500, 2000)
    pairs = np.concatenate([data.train, data.test])
    assert 0.97 * SMALL["pairs"] <= len(pairs) <= SMALL["pairs"]
    keys = _keys(pairs, data.num_items)
    assert len(np.unique(keys)) == len(keys)
    assert pairs.min() >= 0 and pairs[:, 0].max() < 500 and pairs[:, 1].max() < 2000
    assert len(data.test) / len(pairs) == pytest.approx(0.2, abs=0.02)
    assert np.bincount(data.train[:, 0], minlength=500).min() >= 1  # every user trains
    assert len(np.unique(data.user_ids)) == 500 and len(np.unique(data.item_ids)) == 2000
    assert data.user_ids.dtype == np.int64 and 0 <= data.user_ids.min() < MAX_INT_ID


def test_power_law_degrees(data):
    pairs = np.concatenate([data.train, data.test])
    items = np.sort(np.bincount(pairs[:, 1], minlength=data.num_items))[::-1]
    top = items[: data.num_items // 100].sum() / items.sum()
    assert top > 4 * 0.01  # the top 1% of items hold several times their share (about 5x)
    users = np.bincount(pairs[:, 0], minlength=data.num_users)
    assert users.max() > 5 * np.median(users)


def test_planted_rank_and_oracle_beats_popularity(data):
    assert data.user_mix.shape == (500, 8) and data.item_weights.shape == (2000, 8)
    np.testing.assert_allclose(data.user_mix.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(data.item_weights.sum(axis=0), 1, atol=1e-4)
    expected = data.user_mix.astype(np.float64) @ data.item_weights.T
    assert np.linalg.matrix_rank(expected, tol=1e-9 * expected.max()) == 8
    quality = planted_quality(data, sample_users=300)
    oracle, popularity = quality["oracle"]["ndcg@20"], quality["popularity"]["ndcg@20"]
    assert quality["users_evaluated"] == 300
    assert oracle > 1.2 * popularity > 0


def test_tsv_is_read_by_read_interactions(data, tmp_path):
    out = write_synthetic(data, tmp_path / "d", extra={"note": 1})
    np.testing.assert_array_equal(read_interactions(out / "train.tsv"), data.raw(data.train))
    np.testing.assert_array_equal(read_interactions(out / "test.tsv"), data.raw(data.test))
    record = json.loads((out / "synthetic.json").read_text())
    assert record["note"] == 1 and record["params"]["seed"] == 3
    assert record["counts"]["train_pairs"] == len(data.train)


def test_parquet_columns(data, tmp_path):
    out = write_synthetic(data, tmp_path / "d", fmt="parquet")
    table = pq.read_table(out / "test.parquet")
    assert table.column_names == ["user", "item"]
    np.testing.assert_array_equal(table["user"].to_numpy(), data.user_ids[data.test[:, 0]])
    np.testing.assert_array_equal(table["item"].to_numpy(), data.item_ids[data.test[:, 1]])


def test_string_ids(tmp_path):
    data = synthesize(seed=0, id_type="str", **SMALL)
    assert all(re.fullmatch(r"u[0-9a-f]{12}", u) for u in data.user_ids[:50])
    assert all(re.fullmatch(r"i[0-9a-f]{12}", i) for i in data.item_ids[:50])
    assert len(np.unique(data.item_ids)) == data.num_items
    out = write_synthetic(data, tmp_path / "tsv")
    read = read_interactions(out / "train.tsv", id_type="str")
    np.testing.assert_array_equal(read, data.raw(data.train))
    out = write_synthetic(data, tmp_path / "pq", fmt="parquet")
    table = pq.read_table(out / "train.parquet")
    assert table["user"].to_pylist()[:3] == data.raw(data.train[:3])[:, 0].tolist()


def test_failed_write_leaves_nothing(data, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(synthetic_write, "_write_pairs", broken)
    with pytest.raises(OSError):
        write_synthetic(data, tmp_path / "d")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.txt").write_text("x")
    with pytest.raises(OSError):
        write_synthetic(data, tmp_path / "old", overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert (tmp_path / "old" / "keep.txt").exists()


def test_existing_output_needs_overwrite(data, tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="exists"):
        write_synthetic(data, tmp_path / "d")
    write_synthetic(data, tmp_path / "d", overwrite=True)
    assert (tmp_path / "d" / "train.tsv").is_file()


def test_cli_writes_a_folder(tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["synthesize", "--pairs", "5000", "--output", str(out), "--rank", "4"]
    assert main([*argv, "--format", "parquet", "--no-quality", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "pairs" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "synthetic.json",
        "test.parquet",
        "train.parquet",
        "truth.npz",
    ]
    assert json.loads((out / "synthetic.json").read_text())["params"]["seed"] == 2


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--pairs", "0"], "--pairs"),
        (["--pairs", "1000", "--rank", "500", "--items", "100"], "--rank"),
        (["--pairs", "1000", "--users", "900"], "--users"),
        (["--pairs", "100000", "--users", "10", "--items", "100"], "--pairs"),
        (["--pairs", "1000", "--test-fraction", "1.5"], "--test-fraction"),
        (["--pairs", "1000", "--items", "-3"], "--items"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, extra, flag):
    assert main(["synthesize", "--output", str(tmp_path / "s"), "--no-quality", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("tfdirectspec: error: ") and flag in err
    assert not (tmp_path / "s").exists()


def test_cli_existing_output(tmp_path, capsys):
    (tmp_path / "s").mkdir()
    assert main(["synthesize", "--pairs", "1000", "--output", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--output" in err and "--overwrite" in err
