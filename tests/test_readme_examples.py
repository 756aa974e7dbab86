"""The README's tested examples run as printed.

Every fenced ``python`` block right after a ``<!-- tested: ... -->`` comment is extracted
from README.md and executed in a fresh namespace; the checks below look at what it left.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tfdirectspec.evaluation import full_ranking_metrics

README = Path(__file__).resolve().parent.parent / "README.md"
TESTED_BLOCK = re.compile(r"<!-- tested:[^>]*-->\n```python\n(.*?)\n```", re.DOTALL)


def readme_blocks() -> list[str]:
    return TESTED_BLOCK.findall(README.read_text(encoding="utf-8"))


def run_block(code: str) -> dict:
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, f"{README}:tested-block", "exec"), namespace)
    return namespace


def test_readme_has_the_plain_keras_example() -> None:
    blocks = readme_blocks()
    assert len(blocks) == 1
    assert "keras_rs.layers.BruteForceRetrieval" in blocks[0]
    assert "loss=tfd.DirectSpecPlusLoss(" in blocks[0]
    assert 'EarlyStopping(\n            monitor="val_ndcg@20"' in blocks[0]


def test_plain_keras_model_with_early_stopping_on_val_ndcg() -> None:
    (block,) = readme_blocks()
    ns = run_block(block)
    logs = ns["history"].history
    losses, ndcg = logs["loss"], logs["val_ndcg@20"]
    assert len(ndcg) == len(losses) and np.all(np.isfinite(losses))
    assert losses[-1] < losses[0] and max(ndcg) > 2 * ndcg[0]  # it learns to rank
    # EarlyStopping stopped before the 30 epochs and restored the best epoch's weights.
    assert len(losses) < 30 and int(np.argmax(ndcg)) < len(ndcg) - 1
    data, model = ns["data"], ns["model"]
    tables = (model.get_layer(f"{s}_embedding").embeddings.numpy() for s in ("user", "item"))
    restored = full_ranking_metrics(*tables, data.valid, exclude=data.train, ks=(20,))
    assert restored["ndcg@20"] == max(ndcg)
    top = np.asarray(ns["top_items"])
    assert top.shape == (3, 10) and top.min() >= 0 and top.max() < data.num_items
    assert all(len(set(row)) == 10 for row in top.tolist())
