"""The same seed twice gives the same run: identical test metrics and weights."""

from __future__ import annotations

import numpy as np

from tfdirectspec.training.trainer import train


def test_same_seed_same_test_metrics(tiny_config) -> None:
    # The validation split is drawn from the seed too.
    config = tiny_config(valid_fraction=0.2, seed=11)
    first = train(config, verbose=0)
    second = train(config, verbose=0)
    assert first.metrics["test"] and first.metrics["valid"]
    assert first.metrics["test"] == second.metrics["test"]
    assert first.metrics["valid"] == second.metrics["valid"]
    assert first.metrics["erank"] == second.metrics["erank"]
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
