"""The analytic byte count of ``pipelines/benchmarks/bench_multiworker.py`` and the memory
formula of ``pipelines/benchmarks/bench_memory.py`` (no TensorFlow, no cluster: arithmetic)."""

from __future__ import annotations

import pytest
from pipeline_modules import load_pipeline

USERS, ITEMS = 5551, 16980  # CiteULike


@pytest.fixture(scope="module")
def bench():
    return load_pipeline("benchmarks/bench_multiworker")


@pytest.fixture(scope="module")
def memory():
    return load_pipeline("benchmarks/bench_memory")


def test_one_worker_communicates_nothing(bench):
    step = bench.analytic_step("mf", "directspec+", 1, 256, 64, USERS, ITEMS)
    assert (step["bytes_sent_per_worker"], step["collectives"], step["ring_hops"]) == (0, 0, 0)


@pytest.mark.parametrize("workers", [2, 4, 8, 16])
@pytest.mark.parametrize("dim", [32, 64, 128])
def test_directspec_plus_mf_closed_form(bench, workers, dim):
    batch = 256
    rows = batch // workers
    step = bench.analytic_step("mf", "directspec+", workers, batch, dim, USERS, ITEMS)
    small = 40 * (workers - 1) + 32 * (workers - 1) / workers
    expected = (workers - 1) * rows * (32 * dim + 16) + small
    assert step["bytes_sent_per_worker"] == round(expected)
    assert (step["collectives"], step["all_gathers"], step["all_reduces"]) == (19, 14, 5)
    assert step["ring_hops"] == 24 * (workers - 1)


def test_ring_formulas(bench):
    gather = bench.Collective("rows", "gather", 1000)
    reduce_ = bench.Collective("grad", "reduce", 1000)
    assert (gather.sent(4), gather.hops(4)) == (3000, 3)
    assert (reduce_.sent(4), reduce_.hops(4)) == (1500, 6)


def test_uneven_slices_are_padded(bench):
    # 10 rows on 4 workers: slices of 3, 3, 2, 2, gathered padded to 3.
    rows = {c.name: c.nbytes for c in bench.step_collectives("mf", "bpr", 4, 10, 8, 50, 40)}
    assert rows["user gradient (IndexedSlices): values"] == 3 * 8 * 4
    assert rows["item gradient (IndexedSlices): indices"] == 2 * 3 * 8  # positives + negatives


def test_lightgcn_all_reduces_both_dense_tables(bench):
    mf = bench.analytic_step("mf", "directspec+", 4, 256, 64, USERS, ITEMS)["breakdown"]
    gcn = bench.analytic_step("lightgcn", "directspec+", 4, 256, 64, USERS, ITEMS)["breakdown"]
    dense = gcn.pop("dense gradients of both tables (one pack)")
    assert dense == round(2 * 3 / 4 * (USERS + ITEMS) * 64 * 4)
    assert gcn == {k: v for k, v in mf.items() if "IndexedSlices" not in k}


def test_grouped_filter_and_bpr_gather_no_rows(bench):
    for loss, group in (("directspec+", 256), ("bpr", 0)):
        names = [c.name for c in bench.step_collectives("mf", loss, 2, 4096, 64, 10, 10, group)]
        assert not any(name.startswith(("forward", "backward")) for name in names), loss
    with pytest.raises(ValueError, match="no count"):
        bench.step_collectives("mf", "ssm", 2, 256, 64, 10, 10)


def test_filter_flops_split_over_workers(bench):
    assert bench.filter_flops(256, 64, workers=4) * 4 == bench.filter_flops(256, 64)


def test_memory_formula(memory):
    sgd = memory.memory_bytes("mf", "sgd", 1000, 3000, 64, 10_000)
    adam = memory.memory_bytes("mf", "adam", 1000, 3000, 64, 10_000)
    assert sgd["tables"] == 4000 * 64 * 4
    assert adam["optimizer_slots"] == 2 * sgd["tables"]
    gcn = memory.memory_bytes("lightgcn", "sgd", 1000, 3000, 64, 10_000, layers=3)
    assert gcn["graph"] == 20 * 10_000 + 2 * 8 * 10_000 + 4 * 4000
    assert gcn["propagation"] == 5 * sgd["tables"]
    for row in (sgd, adam, gcn):
        assert row["total"] == pytest.approx(sum(v for k, v in row.items() if k != "total"))


def test_largest_rows_orders_the_cases(memory):
    fits = {
        (tower, optimizer, budget): memory.largest_rows(budget * 2**30, tower, optimizer, 64, 7.4)
        for tower in ("mf", "lightgcn")
        for optimizer in ("sgd", "adam")
        for budget in (24, 256)
    }
    assert fits["mf", "sgd", 24] > fits["mf", "adam", 24] > fits["lightgcn", "adam", 24] > 0
    assert fits["mf", "adam", 256] > 10 * fits["mf", "adam", 24]
    assert memory.largest_rows(0.5 * 2**30, "mf", "sgd", 64, 7.4) == 0  # below the runtime
