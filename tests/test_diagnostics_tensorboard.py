"""A real TensorBoard server reads what `tfdirectspec train` logs.

Trains a tiny run with the CLI, starts ``python -m tensorboard.main`` on 127.0.0.1 at a
free port over its logdir, and queries the HTTP data API for the spectrum scalars,
histogram and image and for the validation ranking metrics, each with two steps.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

from tfdirectspec.cli import main
from tfdirectspec.diagnostics.spectrum_callback import HISTOGRAM_TAG, IMAGE_TAG, SCALAR_TAGS

#: Subprocesses or scale: `pytest -m "not slow"` skips this file (.ci/run runs it).
pytestmark = pytest.mark.slow

# TensorBoard imports TensorFlow at start-up: allow for a slow, shared machine.
STARTUP_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def logdir(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensorboard")
    out = folder / "run"
    argv = ["train", "--data-dir", str(data_dir), "--output", str(out), "--verbose", "0"]
    argv += ["--epochs", "2", "--batch-size", "32", "--eval-every", "1", "--spectrum-every", "1"]
    assert main([*argv, "--valid-fraction", "0.2"]) == 0
    return out / "logs"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(base: str, path: str, **query) -> bytes:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _json(base: str, path: str, **query):
    return json.loads(_get(base, path, **query))


def _wait_for_tags(base: str, server: subprocess.Popen, log_path, expected: dict) -> None:
    """Polls the tag endpoints until every expected (plugin, run, tag) is served."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    missing = expected
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"tensorboard exited ({server.returncode}):\n{log_path.read_text()}")
        try:
            missing = {
                plugin: [(run, tag) for run, tag in wanted if tag not in got.get(run, {})]
                for plugin, wanted in expected.items()
                for got in [_json(base, f"/data/plugin/{plugin}/tags")]
            }
            if not any(missing.values()):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        time.sleep(0.5)
    pytest.fail(f"tags still missing after {STARTUP_TIMEOUT}s: {missing}\n{log_path.read_text()}")


def test_tensorboard_serves_spectrum_and_validation_metrics(logdir, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "tensorboard.log"
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--load_fast", "false"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        scalars = [("spectrum", tag) for tag in SCALAR_TAGS]
        scalars += [("validation", "epoch_ndcg@20"), ("validation", "epoch_recall@20")]
        scalars += [("train", "epoch_loss")]
        expected = {
            "scalars": scalars,
            "histograms": [("spectrum", HISTOGRAM_TAG)],
            "images": [("spectrum", IMAGE_TAG)],
        }
        _wait_for_tags(base, server, log_path, expected)

        for run, tag in scalars:
            points = _json(base, "/data/plugin/scalars/scalars", run=run, tag=tag)
            assert sorted(p[1] for p in points) == [0, 1], (run, tag, points)
            assert all(np.isfinite(p[2]) for p in points)
        erank = _json(base, "/data/plugin/scalars/scalars", run="spectrum", tag=SCALAR_TAGS[2])
        assert all(1.0 <= p[2] <= 64.0 + 1e-4 for p in erank)  # d = 64 (the default)
        histograms = _json(
            base, "/data/plugin/histograms/histograms", run="spectrum", tag=HISTOGRAM_TAG
        )
        assert sorted(h[1] for h in histograms) == [0, 1]
        for _, _, buckets in histograms:
            # σ_k / σ_1 lies in (0, 1]; the 64 singular values are all counted.
            assert buckets[-1][1] == pytest.approx(1.0)
            assert sum(b[2] for b in buckets) == pytest.approx(64)
        images = _json(base, "/data/plugin/images/images", run="spectrum", tag=IMAGE_TAG, sample=0)
        assert sorted(i["step"] for i in images) == [0, 1]
        png = _get(base, f"/data/plugin/images/individualImage?{images[-1]['query']}")
        assert png.startswith(b"\x89PNG")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
