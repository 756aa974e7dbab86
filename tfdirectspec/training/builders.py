"""Builds towers and losses from a :class:`TrainConfig`."""

from __future__ import annotations

import scipy.sparse as sp

from tfdirectspec import losses
from tfdirectspec.losses import RetrievalLoss
from tfdirectspec.towers import EmbeddingTower, LightGCNTower, MFTower
from tfdirectspec.training.config import TrainConfig


def build_loss(config: TrainConfig) -> RetrievalLoss:
    """The loss named by ``config.loss`` with its hyper-parameters."""
    c = config
    if c.loss == "bpr":
        return losses.BPRLoss(reg=c.reg)
    if c.loss == "positive-only":
        return losses.PositiveOnlyLoss(shrink=c.shrink, reg=c.reg)
    if c.loss == "directspec":
        return losses.DirectSpecLoss(alpha=c.alpha, shrink=c.shrink, reg=c.reg)
    if c.loss == "directspec+":
        return losses.DirectSpecPlusLoss(
            alpha=c.alpha,
            tau=c.tau,
            shrink=c.shrink,
            reg=c.reg,
            tau0=c.tau0,
            tau1=c.tau1,
            group_size=c.group_size,
        )
    if c.loss == "directau":
        return losses.DirectAULoss(gamma=c.gamma)
    if c.loss == "ssm":
        return losses.SampledSoftmaxLoss(temperature=c.temperature)
    if c.loss == "ials":  # the batch form of its objective (the run itself solves by ALS)
        return losses.IALSLoss(alpha=c.alpha, reg=c.reg)
    if c.loss == "ease":
        raise ValueError("loss ease is closed form (no batch loss): train it with train()")
    raise ValueError(f"unknown loss {c.loss!r}")


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
