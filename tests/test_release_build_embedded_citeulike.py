"""``pipelines/release/build_embedded_citeulike.py`` writes the layout the library reads."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest
from pipeline_modules import load_pipeline

from tfdirectspec.errors import InputError

SHARED_CITEULIKE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "citeulike"


@pytest.fixture(scope="module")
def builder():
    return load_pipeline("release/build_embedded_citeulike")


def shipped() -> dict[str, np.ndarray]:
    resource = importlib.resources.files("tfdirectspec.data") / "_embedded" / "citeulike.npz"
    with resource.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def test_written_archive_has_the_shipped_layout(builder, tmp_path):
    path = builder.write_embedded(
        tmp_path / "tiny.npz", np.array([[0, 1], [1, 0]]), np.array([[0, 0]])
    )
    with np.load(path) as archive:
        written = {key: archive[key] for key in archive.files}
    reference = shipped()
    assert sorted(written) == sorted(reference)
    assert all(written[key].dtype == reference[key].dtype for key in written)
    np.testing.assert_array_equal(written["train_items"], [1, 0])
    with pytest.raises(ValueError, match="int32"):
        builder.write_embedded(tmp_path / "big.npz", np.array([[0, 2**31]]), np.array([[0, 0]]))


def test_source_files_are_checked(builder, tmp_path):
    with pytest.raises(InputError, match="missing train.tsv"):
        builder.build(tmp_path, tmp_path / "out.npz")
    (tmp_path / "train.tsv").write_text("0\t1\n")
    (tmp_path / "test.tsv").write_text("0\t0\n")
    with pytest.raises(InputError, match="sha256"):
        builder.build(tmp_path, tmp_path / "out.npz")
    assert builder.main(["--source", str(tmp_path), "--output", str(tmp_path / "o.npz")]) == 2
    assert not (tmp_path / "out.npz").exists() and not (tmp_path / "o.npz").exists()


@pytest.mark.skipif(
    not (SHARED_CITEULIKE / "train.tsv").is_file(), reason="no ../shared/data/citeulike"
)
def test_rebuilds_the_shipped_archive(builder, tmp_path):
    counts = builder.build(SHARED_CITEULIKE, tmp_path / "citeulike.npz")
    assert counts == {"train": 166025, "test": 44512}
    with np.load(tmp_path / "citeulike.npz") as archive:
        for key, values in shipped().items():
            np.testing.assert_array_equal(archive[key], values)
