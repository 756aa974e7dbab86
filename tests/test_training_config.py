"""Config resolution: defaults < zoo entry < --config file < flags."""

from __future__ import annotations

import pytest

from tfdirectspec.cli import build_parser
from tfdirectspec.commands.train import resolve_config
from tfdirectspec.errors import InputError
from tfdirectspec.parameters import ParameterError
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.zoo import list_entries, zoo_defaults


def _config(*argv):
    return resolve_config(build_parser().parse_args(["train", *argv]))[0]


def test_no_flags_is_directspec_plus_mf_on_citeulike_with_the_authors_recipe():
    c = _config()
    assert (c.dataset, c.tower, c.loss) == ("citeulike", "mf", "directspec+")
    assert (c.optimizer, c.lr, c.lr_decay, c.batch_size, c.alpha, c.tau, c.shrink) == (
        "sgd",
        180.0,
        0.9995,
        256,
        1.0,
        3.0,
        0.03,
    )


def test_zoo_entry_sets_defaults_and_flags_override():
    c = _config("--loss", "bpr")
    assert (c.optimizer, c.lr, c.batch_size, c.reg) == ("adam", 0.001, 2048, 1e-4)
    c = _config("--loss", "bpr", "--batch-size", "512")
    assert c.batch_size == 512 and c.optimizer == "adam"


def test_config_file_between_zoo_and_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('loss = "directspec+"\ntau = 5.0\nepochs = 7\n')
    c = _config("--config", str(path), "--epochs", "9")
    assert (c.tau, c.epochs, c.lr) == (5.0, 9, 180.0)


def test_config_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("tau = \n")
    with pytest.raises(InputError, match="bad.toml"):
        _config("--config", str(bad))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("taux = 1.0\n")
    with pytest.raises(InputError, match="unknown.toml: unknown key"):
        _config("--config", str(unknown))
    with pytest.raises(InputError, match="no such config"):
        _config("--config", str(tmp_path / "missing.toml"))


def test_eval_users_zero_is_everyone_and_negative_is_refused(tmp_path):
    assert TrainConfig().eval_users == 0 and _config().eval_users == 0
    assert _config("--eval-users", "500").eval_users == 500
    path = tmp_path / "c.toml"
    path.write_text("eval_users = 0\n")
    assert _config("--config", str(path)).eval_users == 0
    with pytest.raises(ParameterError, match="^eval_users must be >= 0"):
        TrainConfig(eval_users=-1).validate()
    with pytest.raises(ParameterError, match="^eval_users must be an integer"):
        TrainConfig(eval_users=2.5).validate()


def test_only_a_dataset_own_entry_is_a_zoo_recipe():
    assert zoo_defaults("my-data", "mf", "bpr") == {}
    assert zoo_defaults("citeulike", "mf", "bpr")["optimizer"] == "adam"


def test_every_zoo_entry_is_a_valid_config():
    entries = list_entries()
    assert {
        "citeulike-mf-directspec-plus",
        "citeulike-mf-bpr",
        "citeulike-mf-positive-only",
        "citeulike-mf-directspec",
        "citeulike-mf-directspec-plus-adaptive",
        "citeulike-mf-directau",
        "citeulike-mf-ssm",
    } <= set(entries)
    from tfdirectspec.training.config import read_config_file
    from tfdirectspec.training.zoo import find_entry

    for name in entries:
        TrainConfig().updated(read_config_file(find_entry(name)), name).validate()


def test_the_zoo_covers_both_towers_and_six_losses_on_both_datasets():
    entries = set(list_entries())
    losses = ("bpr", "directau", "ssm", "directspec", "directspec-plus", "directspec-plus-adaptive")
    for dataset in ("citeulike", "gowalla"):
        for tower in ("mf", "lightgcn"):
            for loss in losses:
                assert f"{dataset}-{tower}-{loss}" in entries
