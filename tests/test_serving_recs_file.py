"""Recommendation files: Parquet row groups or CSV batches, renamed into place when complete."""

from __future__ import annotations

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from tfdirectspec.parameters import ParameterError
from tfdirectspec.serving.recs_file import RecommendationFile, output_format


def _rows(user: int | str, n: int = 3) -> dict[str, np.ndarray]:
    return {
        "user_id": np.array([user] * n),
        "rank": np.arange(1, n + 1, dtype=np.int32),
        "item_id": np.arange(n) * 10,
        "score": np.linspace(1, 0, n).astype(np.float32),
    }


def test_parquet_has_a_row_group_per_block(tmp_path):
    path = tmp_path / "r.parquet"
    with RecommendationFile(path) as out:
        for user in range(4):
            out.write(_rows(user))
            assert not path.exists()  # only the partial file until the end
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 4 and meta.num_rows == 12
    assert (
        pq.read_table(path).column("user_id").to_pylist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]


def test_csv_has_one_header_and_string_ids(tmp_path):
    path = tmp_path / "r.csv"
    with RecommendationFile(path) as out:
        out.write(_rows("amy"))
        out.write(_rows("bob, jr"))  # a comma: quoted
    text = path.read_text()
    assert text.count("user_id") == 1
    table = pcsv.read_csv(path)
    assert table.column("user_id").to_pylist() == ["amy"] * 3 + ["bob, jr"] * 3


def test_an_error_leaves_nothing(tmp_path):
    path = tmp_path / "r.parquet"
    with pytest.raises(RuntimeError), RecommendationFile(path) as out:
        out.write(_rows(1))
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [("r.json", ".parquet or .csv"), ("existing.csv", "exists"), ("no/r.csv", "no such directory")],
)
def test_bad_targets(tmp_path, name, message):
    (tmp_path / "existing.csv").write_text("keep\n")
    with pytest.raises(ParameterError, match=message):
        output_format(tmp_path / name)
    assert (tmp_path / "existing.csv").read_text() == "keep\n"
    assert output_format(tmp_path / "existing.csv", overwrite=True) == "csv"
