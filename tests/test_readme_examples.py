"""The README's tested examples run as printed.

Every fenced ``python`` block right after a ``<!-- tested: ... -->`` comment is extracted
from README.md and executed in a fresh namespace; the checks below look at what it left.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"
TESTED_BLOCK = re.compile(r"<!-- tested:[^>]*-->\n```python\n(.*?)\n```", re.DOTALL)


def readme_blocks() -> list[str]:
    return TESTED_BLOCK.findall(README.read_text(encoding="utf-8"))


def run_block(code: str) -> dict:
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, f"{README}:tested-block", "exec"), namespace)
    return namespace


def test_readme_has_the_keras_rs_example() -> None:
    blocks = readme_blocks()
    assert len(blocks) == 1
    assert "keras_rs.layers.BruteForceRetrieval" in blocks[0]
    assert "DirectSpecPlusLoss" in blocks[0]
    # Placed just before the command-line section.
    text = README.read_text(encoding="utf-8")
    assert text.index("## DirectSpec+ as the loss of a keras-rs model") < text.index(
        "## Using the command line"
    )


def test_keras_rs_two_tower_example_trains_and_retrieves() -> None:
    (block,) = readme_blocks()
    ns = run_block(block)
    losses = ns["history"].history["loss"]
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    top = np.asarray(ns["top_items"])
    assert top.shape == (3, 10)
    assert top.min() >= 0 and top.max() < ns["num_items"]
    # Each user's top 10 are distinct items.
    assert all(len(set(row)) == 10 for row in top.tolist())
