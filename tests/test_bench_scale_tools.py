"""The measuring tools behind the scale figures: the generator's quality check (planted R²
and the rank where the planted structure sits), the memory tracer and the LazyAdam update
timer. No timing is asserted: the figures live in the scripts' JSON."""

from __future__ import annotations

import sys

import numpy as np
from pipeline_modules import load_pipeline


def test_planted_rank_finds_the_planted_directions_among_noise():
    quality = load_pipeline("benchmarks/bench_synthetic_quality")
    rng = np.random.default_rng(0)
    planted = rng.normal(size=(3000, 4))
    # Four planted directions, mixed into 12 columns with 8 weaker noise directions.
    learned = np.column_stack([2.0 * planted, 0.5 * rng.normal(size=(3000, 8))])
    learned = learned @ np.linalg.qr(rng.normal(size=(12, 12)))[0]
    assert quality.planted_share(learned, planted) > 0.99
    assert quality.subspace_rank(learned, planted) == 4
    curve = quality.planted_share_by_rank(learned, planted)
    assert curve.shape == (12,) and np.all(np.diff(curve) >= -1e-12)
    noise = rng.normal(size=(3000, 12))
    assert quality.planted_share(noise, planted) < 0.02
    assert quality.subspace_rank(noise, planted) > 8


def test_trace_rss_records_the_command_and_passes_its_exit_code(tmp_path, capsys):
    trace = load_pipeline("benchmarks/trace_rss")
    out = tmp_path / "rss.tsv"
    code = "import time; print('reading', flush=True); time.sleep(0.6); raise SystemExit(3)"
    assert trace.main(["--out", str(out), "--every", "0.1", "--", sys.executable, "-c", code]) == 3
    rows = out.read_text().splitlines()
    assert rows[0] == "seconds\trss_mib\tlast_output"
    assert any("reading" in row and float(row.split("\t")[1]) > 0 for row in rows[1:])
    assert "peak" in capsys.readouterr().err


def test_lazy_adam_update_timer_runs_both_optimisers():
    bench = load_pipeline("benchmarks/bench_lazy_adam")
    timed = bench.update_ms(1000, dim=8, batch=16, repeats=2)
    assert set(timed) == {"adam", "lazy-adam"} and all(ms > 0 for ms in timed.values())
