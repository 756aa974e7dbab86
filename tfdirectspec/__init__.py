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

Importing the package registers every Keras object (towers, losses, the
model), so ``keras.saving.load_model("model.keras")`` works after
``import tfdirectspec``.
"""

from __future__ import annotations

import os

# Keras 3 picks its backend at import; this library is TensorFlow-only.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from tfdirectspec.data import (  # noqa: E402
    InteractionData,
    InteractionSampler,
    load_data_dir,
    load_dataset,
)
from tfdirectspec.evaluation import (  # noqa: E402
    effective_rank,
    full_ranking_metrics,
    singular_values,
    spectrum_summary,
)
from tfdirectspec.losses import (  # noqa: E402
    BPRLoss,
    DirectAULoss,
    DirectSpecLoss,
    DirectSpecPlusLoss,
    PositiveOnlyLoss,
    RetrievalLoss,
    SampledSoftmaxLoss,
)
from tfdirectspec.models import RetrievalModel  # noqa: E402
from tfdirectspec.towers import EmbeddingTower, LightGCNTower, MFTower  # noqa: E402
from tfdirectspec.training import TrainConfig, make_optimizer, train  # noqa: E402

__all__ = [
    "BPRLoss",
    "DirectAULoss",
    "DirectSpecLoss",
    "DirectSpecPlusLoss",
    "EmbeddingTower",
    "InteractionData",
    "InteractionSampler",
    "LightGCNTower",
    "MFTower",
    "PositiveOnlyLoss",
    "RetrievalLoss",
    "RetrievalModel",
    "SampledSoftmaxLoss",
    "TrainConfig",
    "effective_rank",
    "full_ranking_metrics",
    "load_data_dir",
    "load_dataset",
    "make_optimizer",
    "singular_values",
    "spectrum_summary",
    "train",
]
