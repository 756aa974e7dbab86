"""Spectrum statistics, the SpectrumSummary callback and the figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from float_bounds import rank_one_erank_excess
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tfdirectspec.diagnostics import SpectrumSummary
from tfdirectspec.diagnostics.plots import figure_png, spectrum_figure
from tfdirectspec.diagnostics.spectrum_callback import HISTOGRAM_TAG, IMAGE_TAG, SCALAR_TAGS
from tfdirectspec.errors import InputError
from tfdirectspec.evaluation import effective_rank
from tfdirectspec.evaluation.spectrum import (
    MAX_CONDITION,
    alignment,
    normalised,
    sample_pairs,
    sample_rows,
    spectrum_stats,
    uniformity,
)
from tfdirectspec.training import TrainConfig, train


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_alignment_and_uniformity_match_brute_force():
    rng = np.random.default_rng(1)
    users, items = rng.normal(size=(30, 5)), rng.normal(size=(20, 5)) * 3.0
    pairs = np.stack([rng.integers(0, 30, 50), rng.integers(0, 20, 50)], axis=1)
    u, i = _unit(users), _unit(items)
    expected = np.mean([np.sum((u[a] - i[b]) ** 2) for a, b in pairs])
    assert alignment(users, items, pairs) == pytest.approx(expected, rel=1e-12)
    values = [
        math.exp(-2 * np.sum((i[j] - i[k]) ** 2)) for j in range(20) for k in range(20) if j != k
    ]
    assert uniformity(items) == pytest.approx(math.log(np.mean(values)), rel=1e-10)
    rows = np.array([3, 7, 11])
    sub = [math.exp(-2 * np.sum((u[j] - u[k]) ** 2)) for j in rows for k in rows if j != k]
    assert uniformity(users, rows) == pytest.approx(math.log(np.mean(sub)), rel=1e-10)
    # Collapse: every row the same direction -> uniformity 0, alignment 0.
    same = np.tile([[2.0, 0.0, 0.0, 0.0, 0.0]], (10, 1))
    assert uniformity(same) == pytest.approx(0.0, abs=1e-12)
    assert alignment(same, same, np.array([[0, 1]])) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(uniformity(users, []))
    with pytest.raises(InputError):
        alignment(users, items, np.zeros((0, 2), int))


def test_spectrum_stats_agrees_with_svd_of_the_stacked_tables():
    rng = np.random.default_rng(2)
    users = rng.normal(size=(40, 6)) * np.array([5, 4, 3, 2, 1, 0.5])
    items = rng.normal(size=(25, 6))
    stats = spectrum_stats(users, items)
    stacked = np.linalg.svd(np.vstack([users, items]), compute_uv=False)
    np.testing.assert_allclose(stats.sigma_all, stacked, rtol=1e-9)
    np.testing.assert_allclose(stats.sigma_user, np.linalg.svd(users, compute_uv=False), rtol=1e-9)
    assert stats.erank_all == pytest.approx(effective_rank(np.vstack([users, items])))
    assert stats.erank_user == pytest.approx(effective_rank(users))
    assert stats.condition_all == pytest.approx(stacked[0] / stacked[-1], rel=1e-9)
    assert math.isnan(stats.alignment)  # no pairs given
    assert stats.uniformity == pytest.approx(0.5 * (stats.uniformity_user + stats.uniformity_item))
    # Rank one: the smallest σ is not resolved, the condition number is capped.
    line = np.outer(np.arange(1, 9), [1.0, 2.0, 3.0])
    collapsed = spectrum_stats(line, line)
    assert collapsed.condition_all == MAX_CONDITION
    assert 1.0 <= collapsed.erank_all <= 1.0 + rank_one_erank_excess(2 * len(line), 3)
    np.testing.assert_allclose(normalised([4.0, 1.0]), [1.0, 0.25])
    with pytest.raises(InputError):
        spectrum_stats(users, items[:, :3])


def test_stats_of_huge_tables_never_form_a_users_by_items_matrix():
    # 300k × 300k scores would be 360 GB in float32: this only works via d×d and m×m Grams.
    rng = np.random.default_rng(3)
    users = rng.normal(size=(300_000, 8)).astype(np.float32)
    items = rng.normal(size=(300_000, 8)).astype(np.float32)
    pairs = np.stack([rng.integers(0, 300_000, 4096), rng.integers(0, 300_000, 4096)], 1)
    rows = sample_rows(300_000, 512, seed=0)
    stats = spectrum_stats(users, items, pairs, rows, rows)
    assert 7.9 < stats.erank_all <= 8.0
    assert stats.alignment == pytest.approx(2.0, abs=0.05)  # independent random directions


def test_samples_are_training_pairs_and_fixed_by_seed():
    train = sp.random(50, 30, density=0.2, format="csr", random_state=0)
    train.data[:] = 1.0
    pairs = sample_pairs(train, 40, seed=4)
    assert pairs.shape == (40, 2)
    assert all(train[u, i] == 1.0 for u, i in pairs)
    np.testing.assert_array_equal(pairs, sample_pairs(train, 40, seed=4))
    assert len(sample_pairs(train, 10_000, seed=4)) == train.nnz
    assert len(np.unique(sample_rows(100, 30, seed=0))) == 30


def test_callback_records_and_writes_every_n_epochs(data_dir, tmp_path):
    config = TrainConfig(
        dataset=None, data_dir=str(data_dir), epochs=3, batch_size=32, eval_every=1, dim=16
    )
    callback = SpectrumSummary(tmp_path, every=2, train=lambda: None, record_initial=True)
    result = train(config, callbacks=[callback], verbose=0)
    # every=2 over 3 epochs: epoch 2, and the last epoch always; plus the initial tables.
    assert [r["epoch"] for r in callback.records] == [0, 2, 3]
    assert len(callback.seconds) == 2
    final = callback.records[-1]
    assert final["erank_all"] == pytest.approx(result.metrics["erank"]["all"], rel=1e-6)
    assert math.isnan(final["alignment"])  # train=lambda: None: no pairs
    events = EventAccumulator(str(tmp_path / "spectrum"), size_guidance={"tensors": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert set(SCALAR_TAGS) - {"spectrum/alignment"} <= tags
    assert "spectrum/alignment" not in tags
    assert {HISTOGRAM_TAG, IMAGE_TAG} <= tags
    # Steps follow the Keras TensorBoard callback: the 0-based epoch index.
    assert [e.step for e in events.Tensors("spectrum/erank_all")] == [1, 2]


def test_callback_rejects_a_bad_period():
    with pytest.raises(InputError):
        SpectrumSummary(None, every=0)


@pytest.mark.slow
def test_figures_render_with_labels():
    spectra = {"positive-only": [5.0, 1e-3, 0.0], "directspec+": [1.0, 0.9, 0.8]}
    figure = spectrum_figure(spectra, title="t")
    (ax,) = figure.axes
    assert ax.get_yscale() == "log" and ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(spectra)
    assert figure_png(figure).startswith(b"\x89PNG")
