"""Refit: retrain on train ∪ valid for the epoch chosen on validation; test is read only there."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tfdirectspec.training.refit as refit_module
from tfdirectspec.cli import main
from tfdirectspec.data.interactions import from_pairs
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.refit import merge_validation, refit, without_test


def _data():
    rng = np.random.default_rng(1)
    train, test = [], []
    for user in range(30):
        items = rng.choice(40, 8, replace=False)
        train += [(user, i) for i in items[:6]]
        test += [(user, i) for i in items[6:]]
    return from_pairs(train, test, name="tiny").with_validation(0.3, seed=0)


def test_merge_validation_is_the_union_and_leaves_test_alone():
    data = _data()
    merged = merge_validation(data)
    expected = (data.train + data.valid).toarray() > 0
    np.testing.assert_array_equal(merged.train.toarray() > 0, expected)
    assert merged.train.nnz == data.num_train + data.num_valid  # disjoint splits
    assert merged.valid.nnz == 0
    assert merged.test is data.test
    assert merged.train.multiply(data.test).nnz == 0
    assert without_test(data).test.nnz == 0 and without_test(data).train is data.train


def test_refit_trains_on_train_union_valid_and_never_on_test(monkeypatch):
    data = _data()
    seen = []
    real_train = refit_module.train

    def spy(config, data, **kwargs):
        seen.append((config, data))
        return real_train(config, data=data, **kwargs)

    monkeypatch.setattr(refit_module, "train", spy)
    config = TrainConfig(
        dataset=None,
        data_dir="x",
        loss="bpr",
        batch_size=32,
        optimizer="adam",
        lr=1e-3,
        lr_decay=1.0,
        valid_fraction=0.3,
        eval_every=1,
    )
    result = refit(config, data, epochs=2, selection={"best_epoch": 2})
    ((used_config, used),) = seen
    assert used_config.epochs == 2 and used_config.valid_fraction == 0.0
    np.testing.assert_array_equal(used.train.toarray() > 0, (data.train + data.valid).toarray() > 0)
    assert used.valid.nnz == 0 and used.train.multiply(data.test).nnz == 0
    m = result.metrics
    assert m["epochs_run"] == 2 and m["best_epoch"] == 2
    assert m["refit"] == {"epochs": 2, "train": data.num_train + data.num_valid}
    assert m["selection"] == {"best_epoch": 2} and 0 <= m["test"]["ndcg@20"] <= 1
    with pytest.raises(ValueError):
        refit(config, data, epochs=0)


@pytest.mark.slow
def test_train_refit_records_the_selection_and_the_refit_test(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data-dir", str(data_dir), "--output", str(out), "--verbose", "0"]
    argv += ["--loss", "bpr", "--epochs", "3", "--batch-size", "32", "--eval-every", "1"]
    assert main([*argv, "--valid-fraction", "0.2", "--refit"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    best = m["selection"]["best_epoch"]
    assert 1 <= best <= 3 and m["selection"]["valid"]["ndcg@20"] >= 0
    assert m["epochs_run"] == best and m["refit"]["epochs"] == best
    assert m["data"]["valid"] == 0 and m["data"]["train"] == 240  # train ∪ valid: all 6 × 40
    assert m["test"]["users_evaluated"] == 40 and m["valid"] == {}
    assert (out / "model.keras").is_file()
    printed = json.loads(capsys.readouterr().out)
    assert printed["selection"]["best_epoch"] == best
    assert main([*argv[:-6], "--refit", "--overwrite"]) == 2  # no validation split
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--refit" in err and "--valid-fraction" in err
