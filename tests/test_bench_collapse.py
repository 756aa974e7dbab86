"""The figure and the regime checks of ``pipelines/benchmarks/bench_collapse.py`` (no training)."""

from __future__ import annotations

import pytest
from pipeline_modules import load_pipeline

from tfdirectspec.diagnostics.plots import figure_png


@pytest.fixture(scope="module")
def bench():
    return load_pipeline("benchmarks/bench_collapse")


def test_collapse_figure_renders_both_panels_with_labels(bench):
    spectra = {"positive-only": [5.0, 1e-3, 0.0], "directspec+": [1.0, 0.9, 0.8]}
    curves = {name: ([1, 2, 3], [3.0, 2.0, 1.5]) for name in spectra}
    both = bench.collapse_figure(spectra, curves, dim=3, title="collapse")
    assert len(both.axes) >= 2  # the two panels (and the zoom inset)
    left, right = both.axes[:2]
    assert all(a.get_xlabel() and a.get_ylabel() for a in (left, right))
    assert [t.get_text() for t in left.get_legend().get_texts()] == list(spectra)
    assert right.get_legend() is None  # one legend, on the left
    assert figure_png(both).startswith(b"\x89PNG")


def test_regime_checks_hold_and_fail_on_the_numbers(bench):
    def run(eranks):
        return {
            "epochs": list(range(len(eranks))),
            "erank_all": eranks,
            "final": {"erank_all": eranks[-1]},
        }

    collapsing = run([60.0] + [5.0] * 20)
    balanced, partial = run([60.0, 63.0]), run([60.0, 62.0])
    checks = bench.check_regimes(
        {"positive-only": collapsing, "bpr": partial, "directspec+": balanced}, dim=64
    )
    assert [ok for _, ok in checks] == [True, True, True]
    checks = bench.check_regimes({"bpr": balanced, "directspec+": partial}, dim=64)
    assert [ok for _, ok in checks] == [False, True]


def test_recipe_line(bench):
    config = {
        "loss": "bpr",
        "optimizer": "adam",
        "lr": 0.001,
        "lr_decay": 1.0,
        "batch_size": 2048,
        "reg": 0.0001,
    }
    assert bench.recipe(config) == "adam lr 0.001, batch 2048, L2 0.0001"
