"""Training: configs, the zoo, optimisers, callbacks, run directories and the run driver.

:mod:`~tfdirectspec.training.config`, :mod:`~tfdirectspec.training.zoo` and
:mod:`~tfdirectspec.training.run_dir` are plain Python (the command line resolves and
checks a run before TensorFlow loads); the rest loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfdirectspec.lazy import lazy_exports

#: Public name -> module that defines it.
_EXPORTS = {
    "EpochTimer": "tfdirectspec.training.callbacks",
    "FiniteLossGuard": "tfdirectspec.training.callbacks",
    "RankingEvaluation": "tfdirectspec.training.callbacks",
    "RankingMetrics": "tfdirectspec.training.ranking_metrics",
    "TimeBudget": "tfdirectspec.training.callbacks",
    "TrainConfig": "tfdirectspec.training.config",
    "load_data": "tfdirectspec.training.config",
    "read_config_file": "tfdirectspec.training.config",
    "build_loss": "tfdirectspec.training.builders",
    "build_tower": "tfdirectspec.training.builders",
    "make_optimizer": "tfdirectspec.training.optimizers",
    "LazyAdam": "tfdirectspec.training.lazy_adam",
    "Run": "tfdirectspec.training.run_dir",
    "TrainResult": "tfdirectspec.training.trainer",
    "build_model": "tfdirectspec.training.trainer",
    "sampler_for": "tfdirectspec.training.trainer",
    "train": "tfdirectspec.training.trainer",
    "list_entries": "tfdirectspec.training.zoo",
    "zoo_defaults": "tfdirectspec.training.zoo",
}

__all__ = [
    "EpochTimer",
    "FiniteLossGuard",
    "LazyAdam",
    "RankingEvaluation",
    "RankingMetrics",
    "Run",
    "TimeBudget",
    "TrainConfig",
    "TrainResult",
    "build_loss",
    "build_model",
    "build_tower",
    "list_entries",
    "load_data",
    "make_optimizer",
    "read_config_file",
    "sampler_for",
    "train",
    "zoo_defaults",
]

if TYPE_CHECKING:
    from tfdirectspec.training.builders import build_loss, build_tower
    from tfdirectspec.training.callbacks import (
        EpochTimer,
        FiniteLossGuard,
        RankingEvaluation,
        TimeBudget,
    )
    from tfdirectspec.training.config import TrainConfig, load_data, read_config_file
    from tfdirectspec.training.lazy_adam import LazyAdam
    from tfdirectspec.training.optimizers import make_optimizer
    from tfdirectspec.training.ranking_metrics import RankingMetrics
    from tfdirectspec.training.run_dir import Run
    from tfdirectspec.training.trainer import TrainResult, build_model, sampler_for, train
    from tfdirectspec.training.zoo import list_entries, zoo_defaults


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
