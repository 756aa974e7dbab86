"""Trainable Keras models."""

# The towers and losses are imported so that loading a model finds every class registered.
import tfdirectspec.losses  # noqa: F401
import tfdirectspec.towers  # noqa: F401
from tfdirectspec.models.ease import EaseModel
from tfdirectspec.models.retrieval import RetrievalModel

__all__ = ["EaseModel", "RetrievalModel"]
