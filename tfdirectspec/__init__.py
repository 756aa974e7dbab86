"""tfdirectspec: DirectSpec and DirectSpec+ recommenders in TensorFlow/Keras 3.

The public API, in the order of the data path:

* data — :class:`InteractionData` (CSR), :func:`load_dataset`, :func:`load_data_dir`,
  :class:`InteractionSampler` (tf.data batches);
* towers — :class:`MFTower`, :class:`LightGCNTower`;
* losses — :class:`DirectSpecLoss`, :class:`DirectSpecPlusLoss`, :class:`BPRLoss`,
  :class:`PositiveOnlyLoss`, :class:`DirectAULoss`, :class:`SampledSoftmaxLoss`;
* model — :class:`RetrievalModel` (``model.fit``);
* evaluation — :func:`full_ranking_metrics`, :func:`effective_rank`, :func:`effective_ranks`;
* training — :class:`TrainConfig`, :func:`train`, :class:`Run` (a run directory).

Names load on first use (PEP 562), so ``import tfdirectspec`` is instant and does
not import TensorFlow; ``tfdirectspec.MFTower`` imports what it needs. Importing the
library changes nothing else in the process (no environment variable, import hook or
file descriptor): Keras must already run on the TensorFlow backend (the Keras modules
check it), and a script that wants TensorFlow's CPU-only start-up notices off stderr
calls :func:`quiet_tensorflow_startup` first, as the command line does. Keras finds
the library's objects in a ``.keras`` file once they are registered, which happens
when their module is imported: use :func:`register_keras_objects` (or any of the
classes) before ``keras.saving.load_model``, or load a run with ``Run.open(path).load_model()``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tfdirectspec.lazy import lazy_exports

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS = {
    "quiet_tensorflow_startup": "tfdirectspec.backend",
    "InteractionData": "tfdirectspec.data",
    "InteractionSampler": "tfdirectspec.data",
    "load_data_dir": "tfdirectspec.data",
    "load_dataset": "tfdirectspec.data",
    "effective_rank": "tfdirectspec.evaluation",
    "effective_ranks": "tfdirectspec.evaluation",
    "full_ranking_metrics": "tfdirectspec.evaluation",
    "singular_values": "tfdirectspec.evaluation",
    "spectrum_stats": "tfdirectspec.evaluation",
    "spectrum_summary": "tfdirectspec.evaluation",
    "BPRLoss": "tfdirectspec.losses",
    "DirectAULoss": "tfdirectspec.losses",
    "DirectSpecLoss": "tfdirectspec.losses",
    "DirectSpecPlusLoss": "tfdirectspec.losses",
    "PositiveOnlyLoss": "tfdirectspec.losses",
    "RetrievalLoss": "tfdirectspec.losses",
    "SampledSoftmaxLoss": "tfdirectspec.losses",
    "RetrievalModel": "tfdirectspec.models",
    "EmbeddingTower": "tfdirectspec.towers",
    "LightGCNTower": "tfdirectspec.towers",
    "MFTower": "tfdirectspec.towers",
    "RankingMetrics": "tfdirectspec.training",
    "Run": "tfdirectspec.training",
    "TrainConfig": "tfdirectspec.training",
    "make_optimizer": "tfdirectspec.training",
    "LazyAdam": "tfdirectspec.training",
    "train": "tfdirectspec.training",
}

__all__ = [
    "BPRLoss",
    "DirectAULoss",
    "DirectSpecLoss",
    "DirectSpecPlusLoss",
    "EmbeddingTower",
    "InteractionData",
    "InteractionSampler",
    "LazyAdam",
    "LightGCNTower",
    "MFTower",
    "PositiveOnlyLoss",
    "RankingMetrics",
    "RetrievalLoss",
    "RetrievalModel",
    "Run",
    "SampledSoftmaxLoss",
    "TrainConfig",
    "effective_rank",
    "effective_ranks",
    "full_ranking_metrics",
    "load_data_dir",
    "load_dataset",
    "make_optimizer",
    "quiet_tensorflow_startup",
    "register_keras_objects",
    "singular_values",
    "spectrum_stats",
    "spectrum_summary",
    "train",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load lazily
    from tfdirectspec.backend import quiet_tensorflow_startup
    from tfdirectspec.data import InteractionData, InteractionSampler, load_data_dir, load_dataset
    from tfdirectspec.evaluation import (
        effective_rank,
        effective_ranks,
        full_ranking_metrics,
        singular_values,
        spectrum_stats,
        spectrum_summary,
    )
    from tfdirectspec.losses import (
        BPRLoss,
        DirectAULoss,
        DirectSpecLoss,
        DirectSpecPlusLoss,
        PositiveOnlyLoss,
        RetrievalLoss,
        SampledSoftmaxLoss,
    )
    from tfdirectspec.models import RetrievalModel
    from tfdirectspec.towers import EmbeddingTower, LightGCNTower, MFTower
    from tfdirectspec.training import (
        LazyAdam,
        RankingMetrics,
        Run,
        TrainConfig,
        make_optimizer,
        train,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def register_keras_objects() -> None:
    """Registers every Keras object of the library (towers, losses, the model, LazyAdam).

    ``keras.saving.load_model`` needs it for a ``.keras`` file written by this
    library, in a process that has not used those classes yet.

    Example:
        >>> register_keras_objects()
        >>> import keras
        >>> keras.saving.get_registered_object("tfdirectspec>RetrievalModel").__name__
        'RetrievalModel'
    """
    importlib.import_module("tfdirectspec.models")  # imports the towers and losses too
    importlib.import_module("tfdirectspec.training.lazy_adam")
