"""Default recipes: hyper-parameters from the data for data without a zoo entry."""

from __future__ import annotations

import numpy as np
import pytest

from tfdirectspec.cli import build_parser
from tfdirectspec.commands.train import resolve_config
from tfdirectspec.data import from_pairs
from tfdirectspec.errors import InputError
from tfdirectspec.training import recipes
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.recipes import Schedule, read_recipe, recipe_config
from tfdirectspec.training.trainer import train


def _data(users: int, per_user: int, valid: float = 0.0):
    pairs = [[u, (u * 7 + k) % 500] for u in range(users) for k in range(per_user)]
    return from_pairs(pairs, test_pairs=pairs[:1]).with_validation(valid, seed=0)


def test_schedule_counts_steps_not_epochs():
    schedule = Schedule(steps=40000, evaluations=30, patience=5, min_epochs=5, max_epochs=1000)
    small = schedule.derive(256, 10_000, has_valid=True)  # 39 steps an epoch
    large = schedule.derive(256, 1_000_000, has_valid=True)  # 3906 steps an epoch
    assert small == {"epochs": 1000, "eval_every": 34, "patience": 5}
    assert large == {"epochs": 11, "eval_every": 1, "patience": 5}
    assert schedule.derive(256, 1_000_000, has_valid=False)["patience"] == 0


def test_every_loss_has_a_valid_default_recipe():
    for loss in ("bpr", "positive-only", "directspec", "directspec+", "directau", "ssm"):
        train_values, schedule, path = read_recipe(loss)
        assert path.parent.name == "defaults"
        assert "dataset" not in train_values and "epochs" not in train_values
        TrainConfig(dataset=None, data_dir="d", loss=loss).updated(train_values, "x").validate()
        assert schedule.steps > 0 and schedule.evaluations > 0


def test_a_data_folder_gets_its_loss_recipe_and_the_flags_win(tmp_path, data_dir):
    parse = build_parser().parse_args
    config, data = resolve_config(parse(["train", "--data-dir", str(data_dir), "--loss", "bpr"]))
    assert (config.optimizer, config.batch_size, config.reg) == ("adam", 2048, 1e-4)
    assert config.epochs == 1000  # 240 pairs: one step an epoch, the step budget is capped
    assert config.patience == 0  # no validation split: nothing to stop on
    argv = ["train", "--data-dir", str(data_dir), "--valid-fraction", "0.2", "--epochs", "7"]
    config, data = resolve_config(parse([*argv, "--lr", "0.01", "--patience", "2"]))
    assert (config.loss, config.optimizer, config.lr) == ("directspec+", "adam", 0.01)
    assert (config.epochs, config.patience) == (7, 2)
    assert data.num_valid > 0
    # The zoo's own datasets keep their recipes: the paper reproduction is unchanged.
    config, _ = resolve_config(parse(["train", "--dataset", "citeulike"]))
    assert (config.optimizer, config.lr, config.epochs) == ("sgd", 180.0, 300)


def test_default_recipe_runs_are_reproducible_with_the_seed(data_dir):
    key = TrainConfig(dataset=None, data_dir=str(data_dir), valid_fraction=0.2, seed=3)
    data = _data(40, 6, valid=0.2)
    config = recipe_config(key, data, [({"epochs": 3, "eval_every": 1, "dim": 8}, "test")])
    a = train(config, verbose=0).metrics
    b = train(config, verbose=0).metrics
    assert a["test"] == b["test"] and a["valid"] == b["valid"]


def test_bad_recipe_files_name_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "defaults"
    folder.mkdir()
    monkeypatch.setattr(recipes, "zoo_dirs", lambda: [tmp_path])
    (folder / "bpr.toml").write_text("[train]\nlrr = 0.1\n[schedule]\nsteps = 10\n")
    with pytest.raises(InputError, match=r"bpr.toml \[train\]: unknown key\(s\) lrr"):
        read_recipe("bpr")
    (folder / "bpr.toml").write_text("[train]\nlr = 0.1\n[schedule]\nsteps = 10\n")
    with pytest.raises(InputError, match=r"bpr.toml: \[schedule\]: .*evaluations"):
        read_recipe("bpr")
    with pytest.raises(InputError, match="no default recipe for loss 'ssm'"):
        read_recipe("ssm")


def test_large_catalogs_train_the_recipe_adam_lazily_unless_the_user_chose():
    from tfdirectspec.training.recipes import LAZY_ADAM_ROWS

    key = TrainConfig(dataset=None, data_dir="d", loss="directspec+")
    n = LAZY_ADAM_ROWS // 2 + 1  # n users and n items: just above the threshold
    large = from_pairs(np.stack([np.arange(n), np.arange(n)], axis=1))
    small = from_pairs(np.stack([np.arange(n - 1), np.arange(n - 1)], axis=1))
    assert recipe_config(key, large).optimizer == "lazy-adam"
    assert recipe_config(key, small).optimizer == "adam"
    chosen = recipe_config(key, large, [({"optimizer": "adam"}, "flags")])
    assert chosen.optimizer == "adam"
    assert recipe_config(TrainConfig(dataset=None, data_dir="d", loss="bpr"), large).optimizer == (
        "lazy-adam"
    )


def test_a_data_folder_gets_the_default_recipe_even_with_the_default_dataset_name():
    """``data_dir`` in a config file (without ``dataset``, which defaults to citeulike) is the
    user's data: its loss's default recipe, not CiteULike's zoo entry (SGD at lr 180)."""
    from tfdirectspec.data import from_pairs
    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.recipes import resolve_config

    data = from_pairs([[u, i] for u in range(100) for i in range(u % 7, u % 7 + 30)])
    key = TrainConfig().updated({"data_dir": "my_data", "loss": "directspec+"}, "my.toml")
    assert key.dataset == "citeulike"
    config = resolve_config(key, data, [({"data_dir": "my_data"}, "my.toml")])
    assert (config.optimizer, config.lr) == ("adam", 0.01)
