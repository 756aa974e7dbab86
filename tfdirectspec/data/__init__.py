"""Interaction data: readers, id maps, splits and named datasets.

Typical use::

    from tfdirectspec.data import load_dataset

    data = load_dataset("citeulike").with_validation(0.1, seed=0)
    data.train  # scipy.sparse.csr_matrix, users x items, binary float32

Training batches come from :class:`InteractionSampler` (tf.data, :mod:`tfdirectspec.data.samplers`).
Everything here but the sampler is NumPy/SciPy: reading and checking data never
imports TensorFlow; the sampler loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfdirectspec.data.datasets import (
    DATASETS,
    list_datasets,
    load_data_dir,
    load_dataset,
)
from tfdirectspec.data.download import default_cache_dir, download
from tfdirectspec.data.interactions import InteractionData, from_columns, from_pairs
from tfdirectspec.data.readers import read_columns, read_interactions, read_log
from tfdirectspec.data.splits import split_by_ratio
from tfdirectspec.lazy import lazy_exports

if TYPE_CHECKING:
    from tfdirectspec.data.samplers import InteractionSampler

__all__ = [
    "DATASETS",
    "InteractionData",
    "InteractionSampler",
    "default_cache_dir",
    "download",
    "from_columns",
    "from_pairs",
    "list_datasets",
    "load_data_dir",
    "load_dataset",
    "read_columns",
    "read_interactions",
    "read_log",
    "split_by_ratio",
]


__getattr__, __dir__ = lazy_exports(__name__, {"InteractionSampler": "tfdirectspec.data.samplers"})
