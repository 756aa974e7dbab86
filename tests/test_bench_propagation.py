"""``pipelines/benchmarks/bench_propagation.py`` on a tiny graph: its Â and one timed round."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from pipeline_modules import load_pipeline

from tfdirectspec.towers.propagation import normalized_interactions


@pytest.fixture(scope="module")
def bench():
    return load_pipeline("benchmarks/bench_propagation")


def test_adjacency_is_the_symmetric_bipartite_graph(bench):
    train = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32))
    adjacency = bench.normalized_adjacency(train)
    assert adjacency.shape == (5, 5) and (adjacency != adjacency.T).nnz == 0
    block = normalized_interactions(train)
    np.testing.assert_array_equal(adjacency[:2, 2:].toarray(), block.toarray())
    assert adjacency[:2, :2].nnz == 0 and adjacency[2:, 2:].nnz == 0


def test_one_round_on_a_data_folder(bench, data_dir, tmp_path, capsys):
    out = tmp_path / "propagation.json"
    argv = ["--data-dir", str(data_dir), "--dim", "4", "--repeats", "1", "--warmup", "0"]
    assert bench.main([*argv, "--only", "tower", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["graph"]["users"] == 40 and report["machine"]["cpu_model"]
    (row,) = report["results"]
    assert row["forward_ms"] > 0 and row["output_rel_err"] < 1e-5
    assert "| candidate |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(["--data-dir", str(tmp_path / "missing"), "--repeats", "1"])
