"""Item-norm calibration: the exponent chosen on validation, carried to the model, the refit,
the tuner's winner and the ``.keras`` file; the raw score when it is off."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
from keras_roundtrip import assert_round_trip

from tfdirectspec import train
from tfdirectspec.data.interactions import from_pairs
from tfdirectspec.evaluation import full_ranking_metrics
from tfdirectspec.losses import DirectSpecPlusLoss
from tfdirectspec.models import RetrievalModel
from tfdirectspec.models.retrieval import scale_item_norms
from tfdirectspec.towers import MFTower
from tfdirectspec.training.calibration import calibrate_item_norms
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.refit import refit_after, without_test
from tfdirectspec.tuning.records import TrialRecord, best_config


def _popularity_case(rng: np.random.Generator, popular_wins: bool):
    """Users and items in 2-d; the items' norms are their popularity. Each user's held-out
    item is the most popular one (``popular_wins``) or the closest in angle."""
    users = rng.normal(size=(30, 2)).astype(np.float32)
    angles = rng.uniform(0, 2 * np.pi, 12)
    norms = np.linspace(0.2, 3.0, 12)
    items = (np.c_[np.cos(angles), np.sin(angles)] * norms[:, None]).astype(np.float32)
    unit = items / norms[:, None]
    if popular_wins:
        held_out = np.full(30, 11)
    else:
        held_out = np.argmax(users @ unit.T, axis=1)
    valid = sp.csr_matrix((np.ones(30, np.float32), (np.arange(30), held_out)), shape=(30, 12))
    return users, items, sp.csr_matrix((30, 12), dtype=np.float32), valid


@pytest.mark.parametrize("popular_wins", [True, False])
def test_the_chosen_exponent_is_the_best_on_validation(popular_wins):
    users, items, train_matrix, valid = _popularity_case(np.random.default_rng(0), popular_wins)
    result = calibrate_item_norms(users, items, train_matrix, valid, ks=(1, 3))
    assert result.scores[result.exponent] == max(result.scores.values())
    assert result.valid["ndcg@3"] == result.scores[result.exponent]
    # Popularity wins: a large γ; the angle wins: cosine (γ = 0) beats the raw score.
    assert (result.exponent > 1) if popular_wins else (result.exponent < 1)
    assert result.scores[result.exponent] > result.scores[1.0]
    # Each candidate is the plain ranking of î · ‖i‖^γ.
    unit = items / np.linalg.norm(items, axis=1, keepdims=True)
    for gamma, score in result.scores.items():
        scaled = unit * np.linalg.norm(items, axis=1, keepdims=True) ** gamma
        direct = full_ranking_metrics(users, scaled, valid, ks=(3,), extras=False)
        assert direct["ndcg@3"] == pytest.approx(score, abs=1e-6)


def test_ties_keep_the_raw_score():
    users, items, train_matrix, _ = _popularity_case(np.random.default_rng(0), True)
    nothing = sp.csr_matrix(([1.0], ([0], [0])), shape=(30, 12))  # every γ finds it or not
    items[0] = 0.0  # a zero row stays zero (and is left out of the correlation)
    result = calibrate_item_norms(users, items, train_matrix, nothing, ks=(12,))
    assert result.exponent == 1.0
    assert result.norm_popularity_correlation is None  # no train counts: nothing to correlate
    counts = sp.csr_matrix(np.tril(np.ones((30, 12), np.float32)))  # item j: 30 − j users
    by_count = calibrate_item_norms(users, items, counts, nothing, ks=(12,))
    assert by_count.norm_popularity_correlation < 0  # norms rise with j, counts fall


def test_scale_item_norms():
    items = tf.constant([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    assert scale_item_norms(items, 1.0) is items
    np.testing.assert_allclose(scale_item_norms(items, 0.0), [[0.6, 0.8], [0, 0], [1, 0]])
    np.testing.assert_allclose(scale_item_norms(items, 3.0), [[75, 100], [0, 0], [1, 0]])


def test_the_exponent_scores_the_model_and_survives_the_keras_file(tmp_path):
    tower = MFTower(9, 7, embedding_dim=4, seed=0)
    model = RetrievalModel(tower, DirectSpecPlusLoss(), item_norm_exponent=2.5)
    restored = assert_round_trip(model, tmp_path)
    assert restored.item_norm_exponent == 2.5
    raw_users, raw_items = tower.tables()
    users, items = restored.tables()
    np.testing.assert_allclose(users, raw_users)
    np.testing.assert_allclose(items, scale_item_norms(raw_items, 2.5), rtol=1e-6)
    with pytest.raises(ValueError, match="item_norm_exponent"):
        RetrievalModel(tower, DirectSpecPlusLoss(), item_norm_exponent=-1.0)


def _data():
    rng = np.random.default_rng(3)
    popular = rng.zipf(1.6, 4000) % 40  # a skewed catalogue: popularity is worth something
    pairs = np.unique(np.c_[rng.integers(0, 60, 4000), popular], axis=0)
    test = pairs[rng.random(len(pairs)) < 0.2]
    train_pairs = pairs[~np.isin(pairs @ [1000, 1], test @ [1000, 1])]
    return from_pairs(train_pairs, test, name="skewed").with_validation(0.2, seed=0)


def _config(**values) -> TrainConfig:
    return TrainConfig(
        loss="directspec+", dataset=None, epochs=4, eval_every=2, batch_size=64, dim=8,
        optimizer="adam", lr=0.01, lr_decay=1.0, shrink=0.0, valid_fraction=0.2, **values,
    )  # fmt: skip


def test_train_calibrates_reports_and_refits_with_the_chosen_exponent():
    data = _data()
    selection = train(_config(calibrate_item_norms=True), data=without_test(data), verbose=0)
    record = selection.metrics["item_norm_calibration"]
    chosen = record["item_norm_exponent"]
    assert chosen != 1.0  # this skewed log wants more popularity (1.5): the refit must keep it
    assert selection.model.item_norm_exponent == chosen
    # The recorded config reproduces the reported model without calibrating.
    assert selection.metrics["config"]["item_norm_exponent"] == chosen
    assert selection.metrics["config"]["calibrate_item_norms"] is False
    assert selection.metrics["valid"]["ndcg@20"] == record["valid_by_exponent"][f"{chosen:g}"]
    refitted = refit_after(selection, _config(calibrate_item_norms=True), data)
    assert refitted.model.item_norm_exponent == chosen
    assert refitted.metrics["selection"]["item_norm_exponent"] == chosen
    users, items = (t.numpy() for t in refitted.model.tables())
    test = full_ranking_metrics(users, items, refitted.data.test, [refitted.data.train])
    assert refitted.metrics["test"]["ndcg@20"] == pytest.approx(test["ndcg@20"], abs=1e-6)


def test_without_calibration_the_score_is_the_raw_dot_product():
    # Given explicitly: the default recipe this config resolves through calibrates.
    result = train(_config(calibrate_item_norms=False), data=without_test(_data()), verbose=0)
    assert "item_norm_calibration" not in result.metrics
    assert result.model.item_norm_exponent == 1.0
    users, items = result.model.tables()
    np.testing.assert_array_equal(items, result.model.tower.tables()[1])


def test_the_tuners_winner_keeps_its_exponent():
    data = without_test(_data())
    config = _config(calibrate_item_norms=True, data_dir="skewed")  # names the winner
    result = train(config, data=data, verbose=0)
    record = TrialRecord.of_result(
        "t0", "directspec+", {}, result, "val_ndcg@20", None, 1.0, 1.0, config
    )
    chosen = result.metrics["item_norm_calibration"]["item_norm_exponent"]
    assert record.score == pytest.approx(result.metrics["valid"]["ndcg@20"])
    winner = best_config(record)
    assert winner.item_norm_exponent == chosen and not winner.calibrate_item_norms
