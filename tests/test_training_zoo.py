"""The zoo's configuration hash: what makes two runs the same measurement of an entry."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from tfdirectspec.cli import build_parser
from tfdirectspec.commands.train import resolve_config
from tfdirectspec.training.config import DATA_KEYS, TrainConfig
from tfdirectspec.training.hyperparameters import (
    LOSS_CLASSES,
    TOWER_CLASSES,
    all_loss_parameters,
    all_tower_parameters,
    unused_keys,
)
from tfdirectspec.training.zoo import (
    EXECUTION_KEYS,
    RUN_KEYS,
    config_hash,
    find_entry,
    list_entries,
    resolve_entry,
    result_keys,
)


def _config(**values) -> dict:
    return TrainConfig().updated(values, "test").to_dict()


@pytest.mark.parametrize(
    ("base", "change"),
    [
        ({"loss": "bpr"}, {"shrink": 0.5}),  # BPR has no norm shrink
        ({"loss": "bpr"}, {"tau": 9.0, "alpha": 0.1, "gamma": 3.0}),
        ({"tower": "mf"}, {"layers": 1, "combination": "sum"}),  # MF does not propagate
        ({"loss": "directau"}, {"reg": 0.1}),
        ({}, {"name": "another name"}),
        ({}, {"num_threads": 4, "eval_batch_size": 64, "steps_per_execution": 1}),
    ],
)
def test_a_key_that_cannot_change_the_result_leaves_the_hash(base, change):
    assert config_hash(_config(**base, **change)) == config_hash(_config(**base))


@pytest.mark.parametrize(
    ("base", "change"),
    [
        ({"loss": "bpr"}, {"reg": 0.5}),
        ({"loss": "directspec+"}, {"shrink": 0.5}),
        ({"loss": "directspec+", "batch_size": 512}, {"group_size": 256}),
        ({"loss": "ease"}, {"reg": 5.0}),
        ({"tower": "lightgcn"}, {"layers": 1}),
        ({"tower": "lightgcn"}, {"combination": "sum"}),
        ({}, {"epochs": 60}),
        ({}, {"seed": 1}),
        ({}, {"valid_fraction": 0.1}),
        ({}, {"dataset": "gowalla"}),
        ({}, {"time_budget": 10.0}),
        ({}, {"ks": [10, 20, 50]}),
        ({}, {"loss": "bpr"}),
    ],
)
def test_a_key_that_changes_the_result_changes_the_hash(base, change):
    assert config_hash(_config(**base, **change)) != config_hash(_config(**base))


def test_the_hash_is_sha256_of_the_canonical_json_of_the_result_keys():
    config = _config(loss="bpr", tower="lightgcn")
    keys = result_keys(config)
    assert {"layers", "combination", "reg", "epochs", "dataset", "seed"} <= set(keys)
    assert not {"shrink", "name", "num_threads", "eval_batch_size"} & set(keys)
    text = json.dumps(keys, sort_keys=True, separators=(",", ":"))
    assert config_hash(config) == hashlib.sha256(text.encode()).hexdigest()


def test_missing_keys_take_their_defaults_and_values_their_types():
    config = _config(loss="bpr")
    older = {k: v for k, v in config.items() if k not in ("patience", "split", "warm_start")}
    assert config_hash({**older, "retired_key": 1}) == config_hash(config)
    assert config_hash({**config, "lr": 1}) == config_hash({**config, "lr": 1.0})
    assert config_hash({**config, "ks": (10, 20)}) == config_hash(config)


def test_every_config_key_is_either_hashed_or_declared_irrelevant():
    """A new TrainConfig field must be placed: a result key, or an execution key."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    placed = {*DATA_KEYS, *RUN_KEYS, *EXECUTION_KEYS, *all_loss_parameters()}
    assert fields == placed | set(all_tower_parameters())


@pytest.mark.parametrize("tower", list(TOWER_CLASSES))
@pytest.mark.parametrize("loss", [*LOSS_CLASSES, "ease"])
def test_the_hashed_keys_are_all_but_execution_and_the_model_unused_keys(tower, loss):
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    hashed = fields - set(EXECUTION_KEYS) - unused_keys(tower, loss)
    assert set(result_keys(_config(tower=tower, loss=loss))) == hashed


def test_entries_are_the_top_folder_files_only(tmp_path):
    (tmp_path / "defaults").mkdir()
    (tmp_path / "defaults" / "bpr.toml").write_text("")
    (tmp_path / "a-mf-bpr.toml").write_text("")
    assert list_entries([tmp_path]) == ["a-mf-bpr"]
    assert "citeulike-mf-directspec-plus" in list_entries()
    assert not {"bpr", "directspec-plus"} & set(list_entries())


@pytest.mark.parametrize(
    "entry", ["citeulike-mf-directspec-plus", "citeulike-lightgcn-directspec-plus-adaptive"]
)
def test_an_entry_resolves_as_train_config_resolves_it(entry):
    path = str(find_entry(entry))
    command, _ = resolve_config(build_parser().parse_args(["train", "--config", path]))
    assert resolve_entry(path).to_dict() == command.to_dict()


def test_an_entry_on_a_data_folder_resolves_through_its_default_recipe(tmp_path, data_dir):
    path = tmp_path / "tiny-mf-bpr.toml"
    path.write_text(f'dataset = "tiny"\ndata_dir = "{data_dir}"\nloss = "bpr"\nepochs = 2\n')
    command, _ = resolve_config(build_parser().parse_args(["train", "--config", str(path)]))
    resolved = resolve_entry(path)
    assert resolved.to_dict() == command.to_dict()
    assert (resolved.name, resolved.optimizer, resolved.epochs) == ("tiny-mf-bpr", "adam", 2)


def test_every_zoo_entry_resolves():
    """A valid file is not enough: keys it inherits from its base entry must fit it too."""
    for name in list_entries():
        config = resolve_entry(find_entry(name))
        assert len(config_hash(config.to_dict())) == 64, name
