"""The registry of losses and towers: every name builds its class from the config's keys,
and every class argument is a config key and a flag."""

from __future__ import annotations

import argparse
import dataclasses
import inspect

import pytest
import scipy.sparse as sp

from tfdirectspec import losses, towers
from tfdirectspec.cli import build_parser
from tfdirectspec.losses.base import hyperparameter_names
from tfdirectspec.training.builders import build_loss, build_tower
from tfdirectspec.training.config import BASELINES, LOSSES, TOWERS, TrainConfig
from tfdirectspec.training.hyperparameters import (
    LOSS_CLASSES,
    TOWER_CLASSES,
    TOWER_WIRING,
    loss_parameters,
    tower_parameters,
)

#: Loss arguments that are not training keys (none: every one is a config key and a flag).
NOT_CONFIG_KEYS: set[str] = set()


def test_every_trained_loss_and_tower_has_a_class():
    assert set(LOSS_CLASSES) == set(LOSSES) - {"ease"}
    assert set(BASELINES) >= {"ease", "ials"}
    assert set(TOWER_CLASSES) == set(TOWERS)


def _train_flags() -> set[str]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    train = commands.choices["train"]
    return {option for action in train._actions for option in action.option_strings}


@pytest.mark.parametrize("name", sorted(LOSS_CLASSES))
def test_loss_arguments_are_config_keys_and_flags(name):
    cls = getattr(losses, LOSS_CLASSES[name][1])
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    flags = _train_flags()
    for key in set(hyperparameter_names(cls)) - NOT_CONFIG_KEYS:
        assert key in fields, (name, key)
        assert "--" + key.replace("_", "-") in flags, (name, key)


@pytest.mark.parametrize("name", sorted(LOSS_CLASSES))
def test_build_loss_passes_the_configs_values(name):
    config = TrainConfig(loss=name, reg=0.25, alpha=0.5, shrink=0.1, gamma=2.0, temperature=0.3)
    loss = build_loss(config)
    assert type(loss) is getattr(losses, LOSS_CLASSES[name][1])
    for key, value in loss.hyperparameters().items():
        if key not in NOT_CONFIG_KEYS:
            assert value == getattr(config, key), (name, key)


def test_ease_has_no_batch_loss():
    with pytest.raises(ValueError, match="closed form"):
        build_loss(TrainConfig(loss="ease"))


@pytest.mark.parametrize("name", sorted(LOSS_CLASSES))
def test_the_parsed_signature_is_the_class_signature(name):
    """hyperparameters reads the source without importing it: it must agree with Python's."""
    cls = getattr(losses, LOSS_CLASSES[name][1])
    parsed = loss_parameters(name)
    assert [p.key for p in parsed] == [p.argument for p in parsed] == hyperparameter_names(cls)
    defaults = inspect.signature(cls.__init__).parameters
    assert all(p.default == defaults[p.argument].default for p in parsed)
    assert all(p.help for p in parsed), "every argument documented under Args:"


@pytest.mark.parametrize("name", sorted(TOWER_CLASSES))
def test_tower_arguments_are_parsed_config_keys_and_flags(name):
    cls = getattr(towers, TOWER_CLASSES[name][1])
    signature = inspect.signature(cls.__init__).parameters
    arguments = [
        a for a in signature if a not in ("self", "kwargs", *TOWER_WIRING)
    ]  # fmt: skip
    parsed = tower_parameters(name)
    assert [p.argument for p in parsed] == arguments
    assert all(p.default == signature[p.argument].default for p in parsed)
    assert all(p.help for p in parsed), "every argument documented under Args:"
    fields, flags = {f.name for f in dataclasses.fields(TrainConfig)}, _train_flags()
    for p in parsed:
        assert p.key in fields and "--" + p.key.replace("_", "-") in flags, (name, p.key)


@pytest.mark.parametrize("name", sorted(TOWER_CLASSES))
def test_build_tower_passes_the_configs_values(name):
    train = sp.random(12, 9, density=0.3, format="csr", random_state=0)
    config = TrainConfig(tower=name, dim=8, layers=2, combination="sum", seed=3)
    tower = build_tower(config, train)
    assert type(tower) is getattr(towers, TOWER_CLASSES[name][1])
    assert (tower.num_users, tower.num_items, tower.seed) == (12, 9, 3)
    for p in tower_parameters(name):
        assert getattr(tower, p.argument) == getattr(config, p.key), (name, p.key)
