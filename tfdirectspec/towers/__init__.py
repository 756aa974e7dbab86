"""Towers: Keras layers mapping user and item ids to embeddings."""

from tfdirectspec.towers.base import EmbeddingTower
from tfdirectspec.towers.lightgcn import LightGCNTower
from tfdirectspec.towers.mf import MFTower

__all__ = ["EmbeddingTower", "LightGCNTower", "MFTower"]
