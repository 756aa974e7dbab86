"""Builds towers and losses from a :class:`TrainConfig`."""

from __future__ import annotations

import dataclasses

import scipy.sparse as sp

from tfdirectspec import losses
from tfdirectspec.losses import RetrievalLoss
from tfdirectspec.losses.base import hyperparameter_names
from tfdirectspec.towers import EmbeddingTower, LightGCNTower, MFTower
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.loss_params import LOSS_CLASSES


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
    """The tower named by ``config.tower``, sized (and for LightGCN wired) from ``train``."""
    num_users, num_items = train.shape
    if config.tower == "mf":
        return MFTower(num_users, num_items, config.dim, seed=config.seed)
    if config.tower == "lightgcn":
        return LightGCNTower.from_interactions(
            train,
            embedding_dim=config.dim,
            num_layers=config.layers,
            combination=config.combination,
            seed=config.seed,
        )
    raise ValueError(f"unknown tower {config.tower!r}")
