"""tfdirectspec: DirectSpec and DirectSpec+ recommenders in TensorFlow/Keras 3.

The public API, in the order of the data path:

* data — :class:`InteractionData` (CSR), :func:`load_dataset`, :func:`load_data_dir`,
  :class:`InteractionSampler` (tf.data batches);
* towers — :class:`MFTower`, :class:`LightGCNTower`;
* losses — :class:`DirectSpecLoss`, :class:`DirectSpecPlusLoss`, :class:`BPRLoss`,
  :class:`PositiveOnlyLoss`, :class:`DirectAULoss`, :class:`SampledSoftmaxLoss`;
* model — :class:`RetrievalModel` (``model.fit``);
* evaluation — :func:`full_ranking_metrics`, :func:`effective_rank`;
* training — :class:`TrainConfig`, :func:`train`.

Names are imported lazily on first use, so ``import tfdirectspec`` (and the
command line's ``--help``) does not pay for importing TensorFlow.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# Keras 3 picks its backend at import; this library is TensorFlow-only.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_EXPORTS = {
    "tfdirectspec.data": (
        "InteractionData",
        "InteractionSampler",
        "load_data_dir",
        "load_dataset",
    ),
    "tfdirectspec.evaluation": (
        "effective_rank",
        "full_ranking_metrics",
        "singular_values",
        "spectrum_summary",
    ),
    "tfdirectspec.losses": (
        "BPRLoss",
        "DirectAULoss",
        "DirectSpecLoss",
        "DirectSpecPlusLoss",
        "PositiveOnlyLoss",
        "RetrievalLoss",
        "SampledSoftmaxLoss",
    ),
    "tfdirectspec.models": ("RetrievalModel",),
    "tfdirectspec.towers": ("EmbeddingTower", "LightGCNTower", "MFTower"),
    "tfdirectspec.training": ("TrainConfig", "make_optimizer", "train"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'tfdirectspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
