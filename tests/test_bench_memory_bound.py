"""Memory bounded by design: a 1M × 1M id space with few pairs trains, evaluates and exports.

A dense users × items array of this data would hold 10^12 cells (4 TB as float32); even one
dense ``[1,024 users × 1M items]`` score block would be 4 GB. The run below goes through
reading, id mapping, the sampler, an MF DirectSpec+ epoch, sampled evaluation over all items,
the spectrum summaries and the export, and must stay within ``PEAK_BOUND_MB`` of resident
memory, TensorFlow's runtime (about 0.6 GB) included.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

#: Peak resident memory allowed for the training run, in MB.
PEAK_BOUND_MB = 2500
#: Users and items of the id space.
SIDE = 1_000_000

# Runs a command and prints its peak resident memory (KiB): the wrapper's only child is it.
_PEAK_OF = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)

#: Subprocesses or scale: `pytest -m "not slow"` skips this file (.ci/run runs it).
pytestmark = pytest.mark.slow


def _peak_mb(command: list[str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_OF, *command], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def _write_pairs(path, users: np.ndarray, items: np.ndarray) -> None:
    # Raw ids as a real log's: large integers, not 0..n-1.
    lines = np.char.add(
        np.char.add((users + 10**12).astype(str), "\t"), (items + 7 * 10**12).astype(str)
    )
    path.write_text("\n".join(lines.tolist()) + "\n")


def test_a_million_users_by_a_million_items_stays_within_the_memory_bound(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    # Every user has one train item and every item one user (a permutation): 10^6 pairs
    # in a 10^12-cell id space. 2,000 users get a second item to find in test.
    _write_pairs(data / "train.tsv", np.arange(SIDE), rng.permutation(SIDE))
    test_users = rng.choice(SIDE, 2_000, replace=False)
    _write_pairs(data / "test.tsv", test_users, rng.integers(0, SIDE, test_users.size))
    run = tmp_path / "run"
    command = [sys.executable, "-m", "tfdirectspec", "train", "--data-dir", str(data)]
    command += ["--loss", "directspec+", "--epochs", "1", "--dim", "8", "--batch-size", "1024"]
    command += ["--eval-users", "500", "--output", str(run)]
    peak = _peak_mb(command)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["users"] == SIDE and metrics["data"]["items"] == SIDE
    assert metrics["config"]["optimizer"] == "lazy-adam"  # past the recipe's threshold
    assert metrics["test"]["users_sampled"] == 500
    assert peak < PEAK_BOUND_MB, f"training peaked at {peak:.0f} MB"
    export = tmp_path / "saved"
    peak_export = _peak_mb(
        [sys.executable, "-m", "tfdirectspec", "export", str(run), "--to", str(export)]
    )
    assert peak_export < PEAK_BOUND_MB, f"export peaked at {peak_export:.0f} MB"
    assert any(export.iterdir())
    print(f"peak resident memory: training {peak:,.0f} MB, export {peak_export:,.0f} MB")
