"""Named datasets (embedded CiteULike, Gowalla from a local copy) and data folders."""

from __future__ import annotations

import importlib.resources
import time
from pathlib import Path

import numpy as np
import pytest

from tfdirectspec.data import DATASETS, list_datasets, load_data_dir, load_dataset
from tfdirectspec.data.download import parse_checksum
from tfdirectspec.errors import InputError

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def test_registry():
    assert list_datasets() == ["citeulike", "gowalla"]
    gowalla = DATASETS["gowalla"]
    assert [f.filename for f in gowalla.files] == ["train.txt", "test.txt"]
    assert all(f.url.startswith("https://raw.githubusercontent.com/") for f in gowalla.files)
    for remote in gowalla.files:
        parse_checksum(remote.checksum)
    with pytest.raises(TypeError):
        DATASETS["x"] = gowalla


def test_unknown_dataset():
    with pytest.raises(InputError, match=r"^unknown dataset 'x' \(known: citeulike, gowalla\)$"):
        load_dataset("x")


def test_embedded_citeulike_counts_and_identity_ids(monkeypatch, tmp_path):
    # Neither the network nor local copies may be consulted for the embedded dataset.
    monkeypatch.setenv("TFDIRECTSPEC_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("TFDIRECTSPEC_CACHE", str(tmp_path / "nocache"))
    start = time.perf_counter()
    data = load_dataset("CiteULike")
    elapsed = time.perf_counter() - start
    assert data.name == "citeulike"
    assert data.summary() == {
        "users": 5551,
        "items": 16980,
        "train": 166003,
        "valid": 0,
        "test": 44512,
    }
    np.testing.assert_array_equal(data.user_ids, np.arange(5551))
    np.testing.assert_array_equal(data.item_ids, np.arange(16980))
    assert data.train.has_canonical_format and data.train.dtype == np.float32
    assert elapsed < 2.0  # about 0.05 s; generous for a busy machine
    assert not (tmp_path / "nocache").exists()


def test_embedded_archive_keeps_the_source_rows():
    resource = importlib.resources.files("tfdirectspec.data") / "_embedded" / "citeulike.npz"
    with resource.open("rb") as handle, np.load(handle) as archive:
        assert archive["train_users"].shape == (166025,)
        assert archive["test_items"].shape == (44512,)
        assert archive["train_users"].dtype == np.int32
        source = SHARED_DATA / "citeulike" / "train.tsv"
        if source.is_file():
            head = np.loadtxt(source, dtype=np.int64, max_rows=1000)
            np.testing.assert_array_equal(archive["train_users"][:1000], head[:, 0])
            np.testing.assert_array_equal(archive["train_items"][:1000], head[:, 1])


def test_load_data_dir_with_optional_test_and_valid(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "train.csv").write_text("user,item\n0,1\n2,0\n")
    data = load_data_dir(folder)
    assert data.name == "toy"
    assert data.summary() == {"users": 2, "items": 2, "train": 2, "valid": 0, "test": 0}
    (folder / "test.txt").write_text("0 0\n3 1\n")
    (folder / "valid.tsv").write_text("2\t1\n")
    data = load_data_dir(folder)
    assert data.summary() == {"users": 3, "items": 2, "train": 2, "valid": 1, "test": 2}


def test_load_data_dir_errors_name_the_folder(tmp_path):
    with pytest.raises(InputError, match="no such data folder"):
        load_data_dir(tmp_path / "missing")
    (tmp_path / "test.tsv").write_text("0\t1\n")
    with pytest.raises(InputError, match=rf"^{tmp_path}: no train file \(looked for train\.tsv"):
        load_data_dir(tmp_path)
    (tmp_path / "train.tsv").write_text("0\t1\n")
    (tmp_path / "train.txt").write_text("0 1\n")
    with pytest.raises(InputError, match=rf"^{tmp_path}: more than one train file"):
        load_data_dir(tmp_path)
    (tmp_path / "train.txt").unlink()
    (tmp_path / "test.tsv").write_text("0\t1\n0\n")
    with pytest.raises(InputError, match=r"test\.tsv:2: expected 2 fields, got 1"):
        load_data_dir(tmp_path)


def test_gowalla_prefers_a_local_copy(monkeypatch, tmp_path):
    (tmp_path / "gowalla").mkdir()
    (tmp_path / "gowalla" / "train.tsv").write_text("0\t0\n1\t1\n")
    (tmp_path / "gowalla" / "test.tsv").write_text("0\t1\n")
    monkeypatch.setenv("TFDIRECTSPEC_DATA", str(tmp_path))
    data = load_dataset("gowalla", cache_dir=tmp_path / "cache")
    assert data.name == "gowalla"
    assert data.summary() == {"users": 2, "items": 2, "train": 2, "valid": 0, "test": 1}
    assert not (tmp_path / "cache").exists()


def test_gowalla_counts_from_the_shared_copy(monkeypatch):
    if not (SHARED_DATA / "gowalla" / "train.tsv").is_file():
        pytest.skip(f"no shared Gowalla copy under {SHARED_DATA.resolve()}")
    monkeypatch.setenv("TFDIRECTSPEC_DATA", str(SHARED_DATA))
    data = load_dataset("gowalla")
    assert data.summary() == {
        "users": 29858,
        "items": 40981,
        "train": 810128,
        "valid": 0,
        "test": 217242,
    }
    np.testing.assert_array_equal(data.user_ids, np.arange(29858))
    np.testing.assert_array_equal(data.item_ids, np.arange(40981))
    # No duplicates and no train/test overlap, as the README states.
    assert data.train.multiply(data.test).nnz == 0
