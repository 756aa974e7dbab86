"""Multi-worker training: the cluster spec, replica slices, two workers against one
process, a worker killed mid-epoch, bad cluster input, and the Keras behaviour we
work around.

Worker processes run ``tests/multi_worker_job.py`` or the command line, with a
``TF_CONFIG`` each on 127.0.0.1 (TensorFlow allows one cluster per process, so
never in this test process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tfdirectspec import cli
from tfdirectspec.data.samplers import InteractionSampler, shard_rows
from tfdirectspec.distributed import ClusterSpec, free_ports, tf_config
from tfdirectspec.errors import InputError

#: Subprocesses or scale: `pytest -m "not slow"` skips this file (.ci/run runs it).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
JOB = Path(__file__).with_name("multi_worker_job.py")
#: ``tfdirectspec`` with a kill point installed (``tests/fault_injection.py``).
FAULT_DRIVER = Path(__file__).with_name("fault_driver.py")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "TFDIRECTSPEC_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return {**env, **extra}


def _run_workers(args: list[str], workers: int = 2, timeout: float = 240) -> list[str]:
    """Runs ``python JOB args`` as a cluster of ``workers`` processes; their stderr."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(JOB), *args],
            env=_env(TF_CONFIG=json.dumps(tf_config(addresses, i))),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    errors = [p.communicate(timeout=timeout)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, errors
    return errors


# -- TF_CONFIG ----------------------------------------------------------------------------


def test_cluster_spec_ranks_chief_first():
    spec = ClusterSpec.parse(
        json.dumps(
            {
                "cluster": {"chief": ["h:1"], "worker": ["h:2", "h:3"]},
                "task": {"type": "worker", "index": 1},
            }
        )
    )
    assert (spec.addresses, spec.rank, spec.is_chief) == (("h:1", "h:2", "h:3"), 2, False)


@pytest.mark.parametrize(
    "value,message",
    [
        ("{", "not valid JSON"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}', "range"),
        ('{"cluster": {"worker": ["h:1"]}}', '"task"'),
        ('{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker"}}', "host:port"),
        ('{"cluster": {"ps": ["h:1"]}, "task": {"type": "ps"}}', "not supported"),
    ],
)
def test_malformed_tf_config_is_a_one_line_error(value, message):
    with pytest.raises(InputError, match=message) as caught:
        ClusterSpec.parse(value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "tf_config_value",
    ["{", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}', ""],
)
def test_bad_cluster_stops_train_before_anything_is_written(
    data_dir, tmp_path, monkeypatch, capsys, tf_config_value
):
    monkeypatch.setenv("TF_CONFIG", tf_config_value)
    out = tmp_path / "run"
    argv = ["train", "--data-dir", str(data_dir), "--strategy", "multi-worker"]
    assert cli.main([*argv, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TF_CONFIG" in err, err
    assert not list(tmp_path.iterdir())


def test_a_time_budget_is_refused_before_the_cluster_starts(
    data_dir, tmp_path, monkeypatch, capsys
):

    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1)))
    argv = ["train", "--data-dir", str(data_dir), "--strategy", "multi-worker"]
    assert cli.main([*argv, "--time-budget", "5", "--output", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "tfdirectspec: error: --time-budget is not available with multi-worker training"
    ]
    assert not list(tmp_path.iterdir())


def test_a_peer_that_never_comes_up_ends_the_worker(data_dir, tmp_path):
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "tfdirectspec", "train", "--data-dir", str(data_dir)]
        + ["--epochs", "1", "--strategy", "multi-worker", "--cluster-timeout", "2"]
        + ["--output", str(out)],
        env=_env(TF_CONFIG=json.dumps(tf_config(addresses, 0))),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"tfdirectspec: error: worker 1 at {addresses[1]} did not come up within 2 s "
        "(--cluster-timeout)"
    ]
    assert not list(tmp_path.iterdir())


# -- replica slices -----------------------------------------------------------------------


@pytest.mark.parametrize("batch,shards", [(256, 3), (16, 2), (7, 7)])
def test_shards_tile_the_global_batch(batch, shards):
    bounds = [shard_rows(batch, k, shards) for k in range(shards)]
    assert bounds[0][0] == 0 and bounds[-1][1] == batch
    assert all(a[1] == b[0] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1


def test_sampler_shards_are_the_global_batch_split_by_rows():
    rng = np.random.default_rng(0)
    train = sp.csr_matrix((rng.random((30, 20)) < 0.2).astype(np.float32))
    sampler = InteractionSampler(train, 10, negatives=True, shared_masks=True, seed=4)
    whole = [next(iter(sampler.stream(start_step=5)))]
    parts = [next(iter(sampler.stream(start_step=5, shard=k, num_shards=3))) for k in range(3)]
    for key in whole[0]:
        np.testing.assert_array_equal(
            np.concatenate([p[key].numpy() for p in parts]), whole[0][key].numpy()
        )
    assert parts[2]["user_shared"].shape == (4, 10)  # a replica's rows, all columns


# -- two workers against one process ----------------------------------------------------


CONFIGS = {
    "directspec+ mf": dict(loss="directspec+", optimizer="sgd", lr=2.0),
    "bpr mf": dict(loss="bpr", optimizer="sgd", lr=0.5, reg=1e-3, shrink=0.0),
    "directspec+ lightgcn": dict(
        loss="directspec+", tower="lightgcn", layers=2, optimizer="sgd", lr=2.0
    ),
}


def test_two_workers_match_one_process(tiny_config, tmp_path):
    from tfdirectspec.training import train
    from tfdirectspec.training.config import load_data
    from tfdirectspec.training.recipes import resolve_for_data

    # Resolved here (the loss's default recipe fills the keys not given), so the workers,
    # which receive every key, train exactly the config the single process trains.
    configs = [resolve_for_data(c, load_data(c)) for c in (
        tiny_config(epochs=3, **values) for values in CONFIGS.values()
    )]  # fmt: skip
    (tmp_path / "configs.json").write_text(json.dumps([c.to_dict() for c in configs]))
    _run_workers(["train", str(tmp_path / "configs.json"), str(tmp_path / "out.npz")])
    cluster = np.load(tmp_path / "out.npz")
    for i, (name, config) in enumerate(zip(CONFIGS, configs, strict=True)):
        single = train(config, verbose=0)
        losses = single.history.history["loss"]
        # Two workers sum their halves of each gradient: equal up to summation order.
        np.testing.assert_allclose(cluster[f"{i}_loss"], losses, rtol=1e-5, err_msg=name)
        for got, want in zip(
            (cluster[f"{i}_users"], cluster[f"{i}_items"]), single.model.tables(), strict=True
        ):
            np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6, err_msg=name)
        assert losses[0] != losses[-1], name  # the weights moved: equality is not trivial


# -- the command line: launcher, chief-only writes, kill and resume -------------------------


TRAIN_ARGS = ["--loss", "directspec+", "--epochs", "3", "--batch-size", "16", "--dim", "8"]
TRAIN_ARGS += ["--optimizer", "sgd", "--lr", "2.0", "--ks", "5", "--verbose", "0"]


def test_a_worker_killed_mid_epoch_resumes_to_the_uninterrupted_weights(
    data_dir, tmp_path, tmp_path_factory
):
    from tfdirectspec.training.run_dir import Run

    single = tmp_path / "single"
    argv = ["train", "--data-dir", str(data_dir), *TRAIN_ARGS]
    assert cli.main([*argv, "--output", str(single)]) == 0
    out = tmp_path / "cluster"
    # Worker 1 of the first start SIGKILLs itself halfway through epoch 2 (epoch 1's
    # checkpoint is in); the marker (outside tmp_path) keeps the restart clean.
    once = tmp_path_factory.mktemp("fault") / "killed"
    fault = [sys.executable, str(FAULT_DRIVER), "--worker", "1", "--once", str(once), "mid@2"]
    result = subprocess.run(
        [*fault, "--", "cluster", "--workers", "2"]
        + ["--cluster-timeout", "60", "--", *argv, "--output", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert once.exists(), "the kill point was never installed"
    assert "worker 1 was killed by SIGKILL; restarting the cluster from the last checkpoint" in (
        result.stderr
    )
    # One run directory, written by the chief alone, complete and in place.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster", "single"]
    assert Run.open(out).metrics()["epochs_run"] == 3
    for got, want in zip(Run.open(out).tables(), Run.open(single).tables(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- the Keras behaviour we work around ---------------------------------------------------


def test_keras_still_needs_the_multi_worker_workarounds(tmp_path):
    """Fails once Keras fixes either behaviour: then drop that part of RetrievalModel.

    ``RetrievalModel._maybe_symbolic_build`` skips Keras' reduce of a first batch,
    and ``RetrievalModel.train_step`` returns length-1 logs (keras-team/keras#20585).
    """
    _run_workers(["keras", str(tmp_path / "keras.json")])
    outcomes = json.loads((tmp_path / "keras.json").read_text())
    assert "Attempt to convert a value (PerReplica" in outcomes["symbolic_build"], outcomes
    assert "Invalid reduction dimension 0 for input with 0 dimensions" in outcomes["scalar_logs"], (
        outcomes
    )
