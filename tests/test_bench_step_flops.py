"""The analytic FLOP count of ``pipelines/benchmarks/bench_step_flops.py`` (a formula check, checked
against TensorFlow's own profiler count) and a tiny end-to-end run of the script (no
timing is asserted: performance targets live in the script's JSON)."""

from __future__ import annotations

import json
from types import ModuleType

import pytest
from pipeline_modules import load_pipeline


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_pipeline("benchmarks/bench_step_flops")


def test_tiny_config_flop_count(bench):
    # B = 4, d = 2: matmul 24·16·2 = 768; elementwise 36·16 + 60·8 = 1056.
    assert bench.step_flops(4, 2) == {"matmul": 768, "elementwise": 1056, "total": 1824}


def test_authors_batch_flop_count(bench):
    flops = bench.step_flops(256, 64)
    assert flops["matmul"] == 24 * 256 * 256 * 64 == 100_663_296
    assert flops["total"] == 100_663_296 + 36 * 256**2 + 60 * 256 * 64


@pytest.mark.parametrize("batch, dim", [(8, 4), (16, 3)])
def test_matmul_count_matches_the_profiler(bench, batch, dim):
    # TensorFlow counts the traced loss forward + backward graph's MatMul FLOPs itself.
    assert bench.profiler_flops(batch, dim)["matmul"] == bench.step_flops(batch, dim)["matmul"]


@pytest.mark.slow
def test_script_runs_end_to_end(bench, tmp_path):
    out = tmp_path / "flops.json"
    argv = ["--data", "random", "--users", "30", "--items", "40", "--batch-sizes", "8"]
    argv += ["--matmul-sizes", "32", "--matmul-calls", "2", "--repeats", "1", "--epochs", "1"]
    argv += ["--seconds", "0.001", "--steps-per-execution", "2", "--out", str(out)]
    result = bench.main(argv)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    (record,) = result["batches"]
    assert record["batch_size"] == 8 and record["flops_per_step"] == bench.step_flops(8, 64)
    for optimizer in ("sgd", "adam"):
        entry = record[optimizer]
        assert entry["fit_sampler_ms"] > 0 and entry["ratio_to_reference"] > 0
        assert set(entry["split_ms"]) == {
            "matmuls",
            "loss_elementwise",
            "optimizer_gather_keras",
            "sampler",
        }
    assert result["machine"]["cores"] >= 1 and result["command"].startswith(
        "python pipelines/benchmarks/bench_step_flops.py "
    )
    assert result["profiler_cross_check"]["8"]["profiler"]["matmul"] == 24 * 8 * 8 * 64
