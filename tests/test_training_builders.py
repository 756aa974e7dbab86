"""The loss registry: every loss name builds its class from the config's keys."""

from __future__ import annotations

import argparse
import dataclasses
import inspect

import pytest

from tfdirectspec import losses
from tfdirectspec.cli import build_parser
from tfdirectspec.losses.base import hyperparameter_names
from tfdirectspec.training.builders import build_loss
from tfdirectspec.training.config import BASELINES, LOSSES, TrainConfig
from tfdirectspec.training.loss_params import LOSS_CLASSES, loss_parameters

#: Loss arguments that are not training keys (none: every one is a config key and a flag).
NOT_CONFIG_KEYS: set[str] = set()


def test_every_trained_loss_has_a_class():
    assert set(LOSS_CLASSES) == set(LOSSES) - {"ease"}
    assert set(BASELINES) >= {"ease", "ials"}


@pytest.mark.parametrize("name", sorted(LOSS_CLASSES))
def test_loss_arguments_are_config_keys_and_flags(name):
    cls = getattr(losses, LOSS_CLASSES[name][1])
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    train = commands.choices["train"]
    flags = {option for action in train._actions for option in action.option_strings}
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
    """loss_params reads the source without importing it: it must agree with Python's."""
    cls = getattr(losses, LOSS_CLASSES[name][1])
    parsed = loss_parameters(name)
    assert [p.name for p in parsed] == hyperparameter_names(cls)
    defaults = inspect.signature(cls.__init__).parameters
    assert all(p.default == defaults[p.name].default for p in parsed)
    assert all(p.help for p in parsed), "every argument documented under Args:"
