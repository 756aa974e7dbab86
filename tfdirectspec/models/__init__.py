"""Trainable Keras models."""

from tfdirectspec.models.retrieval import RetrievalModel

__all__ = ["RetrievalModel"]
