"""Guards of the private or undocumented APIs the code relies on: each fails when it goes.

- ``Layer.supports_jit``: :class:`~tfdirectspec.towers.LightGCNTower` sets it to False so
  that Keras compiles a model holding it without XLA (XLA has no sparse matmul kernel).
- ``tf.function._list_all_concrete_functions`` and the train function's closures:
  ``pipelines/benchmarks/bench_multiworker.py`` counts the collective ops of Keras' traced
  train step through them, and reports nothing (rather than failing) when they are gone,
  so this test is where their disappearance shows.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
from pipeline_modules import load_pipeline

from tfdirectspec.data import InteractionSampler
from tfdirectspec.losses import DirectSpecPlusLoss
from tfdirectspec.models import RetrievalModel
from tfdirectspec.towers import LightGCNTower, MFTower

TRAIN = sp.csr_matrix(np.eye(6, 5, dtype=np.float32) + np.eye(6, 5, 1, dtype=np.float32))


def _model(tower) -> RetrievalModel:
    model = RetrievalModel(tower, DirectSpecPlusLoss())
    model.build_for_ids()
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=True)
    return model


def test_keras_reads_supports_jit_to_turn_xla_off():
    lightgcn = LightGCNTower.from_interactions(TRAIN, embedding_dim=4, num_layers=1, seed=0)
    with pytest.warns(UserWarning, match="doesn't support `jit_compile=True`"):
        assert _model(lightgcn).jit_compile is False
    assert _model(MFTower(6, 5, 4, seed=0)).jit_compile is True  # the attribute decides


def test_the_traced_train_step_can_be_inspected():
    bench = load_pipeline("benchmarks/bench_multiworker")
    assert hasattr(tf.function(lambda x: x), "_list_all_concrete_functions")
    model = RetrievalModel(MFTower(6, 5, 4, seed=0), DirectSpecPlusLoss())
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    sampler = InteractionSampler(TRAIN, batch_size=4, seed=0)
    model.fit(sampler.dataset(), epochs=1, verbose=0)
    traced = bench.traced_functions(model.train_function)
    assert traced, "Keras' train function no longer closes over a tf.function"
    assert all(f._list_all_concrete_functions() for f in traced)
    assert bench.collective_ops(model.train_function) == {}  # one device: no collectives
