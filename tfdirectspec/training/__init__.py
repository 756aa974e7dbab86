"""Training: configs, the zoo, optimisers, callbacks and the run driver."""

from tfdirectspec.training.builders import build_loss, build_tower
from tfdirectspec.training.callbacks import (
    EpochTimer,
    FiniteLossGuard,
    RankingEvaluation,
    TimeBudget,
)
from tfdirectspec.training.config import TrainConfig, read_config_file
from tfdirectspec.training.optimizers import make_optimizer
from tfdirectspec.training.trainer import TrainResult, build_model, load_data, sampler_for, train
from tfdirectspec.training.zoo import list_entries, zoo_defaults

__all__ = [
    "EpochTimer",
    "FiniteLossGuard",
    "RankingEvaluation",
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
