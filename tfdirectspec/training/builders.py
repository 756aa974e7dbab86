"""Builds towers and losses from a :class:`TrainConfig`."""

from __future__ import annotations

import dataclasses

import scipy.sparse as sp

from tfdirectspec import losses, towers
from tfdirectspec.losses import RetrievalLoss
from tfdirectspec.losses.base import hyperparameter_names
from tfdirectspec.towers import EmbeddingTower
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.hyperparameters import LOSS_CLASSES, TOWER_CLASSES, tower_parameters


def build_loss(config: TrainConfig) -> RetrievalLoss:
    """The loss named by ``config.loss``, given the config's values of its arguments.

    The loss class's ``__init__`` signature says which keys it takes
    (:func:`~tfdirectspec.losses.base.hyperparameter_names`); an argument the config does
    not hold keeps the class default.
    """
    if config.loss == "ease":
        raise ValueError("loss ease is closed form (no batch loss): train it with train()")
    if config.loss not in LOSS_CLASSES:
        raise ValueError(f"unknown loss {config.loss!r}")
    cls = getattr(losses, LOSS_CLASSES[config.loss][1])
    fields = {field.name for field in dataclasses.fields(config)}
    return cls(**{k: getattr(config, k) for k in hyperparameter_names(cls) if k in fields})


def build_tower(config: TrainConfig, train: sp.csr_matrix) -> EmbeddingTower:
    """The tower named by ``config.tower``, sized (and for LightGCN wired) from ``train``,
    given the config's values of its hyper-parameters
    (:func:`~tfdirectspec.training.hyperparameters.tower_parameters`)."""
    if config.tower not in TOWER_CLASSES:
        raise ValueError(f"unknown tower {config.tower!r}")
    cls = getattr(towers, TOWER_CLASSES[config.tower][1])
    arguments = {p.argument: getattr(config, p.key) for p in tower_parameters(config.tower)}
    return cls.from_interactions(train, seed=config.seed, **arguments)
