"""`tfdirectspec cluster` and its launcher, with fake worker programs (no real training).

The fake worker (written to a temporary folder) prints one JSON line with its task index,
the cluster's addresses, its argv and its pid, one line on stderr, then does what
``FAKE_ACTIONS`` (a comma list, one action per worker index) says:

* ``ok`` / ``exit:N``: exit with 0 / N;
* ``sleep``: sleep (until the launcher stops it);
* ``stubborn``: ignore SIGTERM and sleep (the launcher must SIGKILL it);
* ``once``: sleep on the cluster's first start, exit 0 on any later one (markers in
  ``FAKE_DIR`` tell the starts apart: each start has its own ports).

The command-level tests put the fake in place of ``python -m tfdirectspec`` through
``tfdirectspec.commands.cluster.worker_program``, so they see the exact worker argv.
A worker "killed by the machine" is SIGKILLed by the test, from the launcher's
``on_start`` (``fault_injection.kill_worker_after``).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fault_injection import kill_worker_after

from tfdirectspec import distributed
from tfdirectspec.cli import main
from tfdirectspec.commands import cluster as cluster_command
from tfdirectspec.distributed import LocalCluster, Restart, free_ports, tf_config

#: Subprocesses or scale: `pytest -m "not slow"` skips this file (.ci/run runs it).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: The launcher options of every test: quick stops.
QUICK = {"grace": 2.0}

FAKE = """
import json, os, signal, sys, time
config = json.loads(os.environ["TF_CONFIG"])
index = config["task"]["index"]
workers = config["cluster"]["worker"]
print(json.dumps({"index": index, "workers": workers, "argv": sys.argv[1:], "pid": os.getpid(),
                  "type": config["task"]["type"]}))
print(f"stderr of {index}", file=sys.stderr)
actions = os.environ.get("FAKE_ACTIONS", "ok").split(",")
action = actions[index] if index < len(actions) else actions[-1]
if action == "once":
    folder, start = os.environ["FAKE_DIR"], workers[0].rsplit(":", 1)[1]
    earlier = [m for m in os.listdir(folder) if not m.startswith(start + "-")]
    open(os.path.join(folder, f"{start}-{index}"), "w").close()
    action = "ok" if earlier else "sleep"
if action == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    action = "sleep"
if action == "sleep":
    time.sleep(20)
sys.exit(int(action.split(":")[1]) if action.startswith("exit:") else 0)
"""


@pytest.fixture
def fake(tmp_path_factory, monkeypatch) -> list[str]:
    """The fake worker's command; ``FAKE_DIR`` set to an empty folder for its markers."""
    folder = tmp_path_factory.mktemp("fake")
    script = folder / "fake_worker.py"
    script.write_text(textwrap.dedent(FAKE))
    markers = folder / "markers"
    markers.mkdir()
    monkeypatch.setenv("FAKE_DIR", str(markers))
    return [sys.executable, str(script)]


def reports(text: str) -> list[dict]:
    """The fake workers' JSON lines in ``text``, each with the prefix's worker number."""
    found = []
    for line in text.splitlines():
        if line.startswith("[worker ") and "] {" in line:
            prefix, payload = line.split("] ", 1)
            found.append({**json.loads(payload), "prefix": int(prefix[len("[worker ") :])})
    return found


def launch(argv, workers, actions, monkeypatch, **options):
    """Runs a LocalCluster of the fake; returns (status, stdout text, stderr text, cluster)."""
    monkeypatch.setenv("FAKE_ACTIONS", actions)
    out, err = io.StringIO(), io.StringIO()
    cluster = LocalCluster(argv, workers, stdout=out, stderr=err, **{**QUICK, **options})
    status = cluster.run()
    return status, out.getvalue(), err.getvalue(), cluster


def argvs_by_start(text: str) -> list[list[list[str]]]:
    """The fake workers' argvs in ``text``, grouped by start (each start has its own ports)."""
    starts: dict[str, list[list[str]]] = {}
    for report in reports(text):
        starts.setdefault(report["workers"][0], []).append(report["argv"])
    return list(starts.values())


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# ---- the pieces ------------------------------------------------------------------------


def test_free_ports_are_distinct_and_tf_config_names_the_task():
    ports = free_ports(8)
    assert len(set(ports)) == 8 and all(1 <= p < 65536 for p in ports)
    addresses = [f"127.0.0.1:{p}" for p in ports[:3]]
    assert tf_config(addresses, 2) == {
        "cluster": {"worker": addresses},
        "task": {"type": "worker", "index": 2},
    }
    with pytest.raises(ValueError):
        tf_config(addresses, 3)


def kill_in_command(monkeypatch, worker: int = 1, seconds: float = 1.0) -> None:
    """The cluster command's launcher SIGKILLs ``worker`` ``seconds`` into its first start."""

    class Killing(LocalCluster):
        def __init__(self, *args, **options) -> None:
            super().__init__(*args, on_start=kill_worker_after(worker, seconds), **options)

    # The command imports LocalCluster from the package when it runs.
    monkeypatch.setattr(distributed, "LocalCluster", Killing)


# ---- the launcher ------------------------------------------------------------------------


def test_each_worker_gets_its_task_a_distinct_port_and_a_prefix(fake, monkeypatch):
    status, out, err, _ = launch(fake, 3, "ok", monkeypatch)
    assert status == 0
    seen = sorted(reports(out), key=lambda r: r["index"])
    assert [r["index"] for r in seen] == [r["prefix"] for r in seen] == [0, 1, 2]
    workers = seen[0]["workers"]
    assert all(r["workers"] == workers and r["type"] == "worker" for r in seen)
    assert len({address.rsplit(":", 1)[1] for address in workers}) == 3
    assert all(address.startswith("127.0.0.1:") for address in workers)
    # stderr stays on stderr, prefixed; the launcher's own line names the addresses.
    assert sorted(line for line in err.splitlines() if line.startswith("[worker")) == [
        f"[worker {i}] stderr of {i}" for i in range(3)
    ]
    assert f"tfdirectspec cluster: starting 3 worker(s) on {', '.join(workers)}" in err
    assert "stderr of" not in out


def test_the_chief_status_is_returned(fake, monkeypatch):
    status, *_ = launch(fake, 2, "exit:3,ok", monkeypatch)
    assert status == 3


def test_a_failed_worker_stops_the_others(fake, monkeypatch):
    # The chief ignores SIGTERM: the launcher must SIGKILL it after the grace period.
    started = time.monotonic()
    status, out, err, cluster = launch(fake, 3, "stubborn,exit:1,sleep", monkeypatch, grace=0.5)
    assert time.monotonic() - started < 10
    assert status == 1  # the chief was stopped: the failed worker's status is the cluster's
    assert "tfdirectspec cluster: worker 1 exited with status 1; stopped the other workers" in err
    assert all(gone(r["pid"]) for r in reports(out))
    assert len(cluster.starts) == 1


def test_a_killed_worker_restarts_the_cluster_with_the_resume_argv(fake, monkeypatch):
    resume = [*fake, "--resume", "DIR"]
    status, out, err, cluster = launch(
        [*fake, "first"],
        2,
        "once",
        monkeypatch,
        restarts=3,
        resume=resume,
        on_start=kill_worker_after(1, 1.0),
    )
    assert status == 0
    assert (
        "tfdirectspec cluster: worker 1 was killed by SIGKILL; restarting the cluster from the "
        "last checkpoint (restart 1 of 3)" in err.splitlines()
    )
    assert cluster.starts == [[*fake, "first"], resume]
    # Two starts on different ports (each start's workers share theirs), the second resumed.
    starts = argvs_by_start(out)
    assert len(starts) == 2 and starts[1] == [["--resume", "DIR"]] * 2


def test_on_start_is_given_each_start_and_its_workers(fake, monkeypatch):
    seen = []
    kill = kill_worker_after(1, 1.0)

    def on_start(start, workers):
        running = [w.poll() is None for w in workers]
        seen.append((start, [w.args for w in workers], [w.pid for w in workers], running))
        kill(start, workers)

    resume = [*fake, "again"]
    status, out, _, cluster = launch(
        [*fake, "first"], 2, "once", monkeypatch, restarts=1, resume=resume, on_start=on_start
    )
    assert status == 0 and cluster.starts == [[*fake, "first"], resume]
    assert [start for start, *_ in seen] == [0, 1]
    assert [args for _, args, *_ in seen] == [[argv, argv] for argv in cluster.starts]
    # Each start's own workers, in worker order (the first start's still running).
    pids: dict[str, dict[int, int]] = {}
    for report in reports(out):
        pids.setdefault(report["workers"][0], {})[report["index"]] = report["pid"]
    assert [found for *_, found, _ in seen] == [[s[0], s[1]] for s in pids.values()]
    assert seen[0][3] == [True, True]


def test_an_on_start_that_raises_stops_the_workers(fake, monkeypatch):
    pids = []

    def on_start(start, workers):
        pids.extend(w.pid for w in workers)
        raise RuntimeError("on_start failed")

    with pytest.raises(RuntimeError, match="on_start failed"):
        launch(fake, 2, "sleep", monkeypatch, restarts=3, on_start=on_start)
    assert len(pids) == 2 and all(gone(pid) for pid in pids)
    # So does the killer of a worker the cluster does not have.
    with pytest.raises(IndexError, match="no worker 2 in a cluster of 2"):
        launch(fake, 2, "sleep", monkeypatch, on_start=kill_worker_after(2, 0.1))


def test_a_usage_error_is_not_restarted(fake, monkeypatch):
    status, _, err, cluster = launch(fake, 2, "sleep,exit:2", monkeypatch, restarts=3)
    assert status == 2 and len(cluster.starts) == 1
    assert "worker 1 exited with status 2; stopped the other workers; a usage error" in err


def test_restarts_run_out(fake, monkeypatch):
    status, _, err, cluster = launch(fake, 2, "sleep,exit:1", monkeypatch, restarts=1)
    assert status == 1 and len(cluster.starts) == 2
    assert err.splitlines()[-1].endswith("no restarts left (1 used)")


def test_a_resume_callable_may_decline_the_restart(fake, monkeypatch):
    asked = []

    def resume():
        asked.append(True)
        return None

    status, _, err, cluster = launch(
        fake, 2, "sleep,exit:1", monkeypatch, restarts=2, resume=resume
    )
    assert status == 1 and asked == [True] and len(cluster.starts) == 1
    assert "nothing to restart" in err


def test_peers_that_outlive_the_chief_are_stopped(fake, monkeypatch):
    status, out, err, _ = launch(fake, 2, "ok,sleep", monkeypatch, peer_timeout=0.3)
    assert status == 0
    assert "the chief finished; stopped worker 1 0.3 s later" in err
    assert all(gone(r["pid"]) for r in reports(out))


DRIVER = """
import sys
from tfdirectspec.distributed import LocalCluster
try:
    status = LocalCluster(sys.argv[1:], 2).run()
except KeyboardInterrupt:
    status = 130
sys.exit(status)
"""


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_launcher_stops_every_worker(fake, tmp_path, signum, status):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FAKE_ACTIONS": "sleep"}
    launcher = subprocess.Popen(
        [sys.executable, "-c", DRIVER, *fake],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pids = [json.loads(launcher.stdout.readline().split("] ", 1)[1])["pid"] for _ in "01"]
        launcher.send_signal(signum)
        assert launcher.wait(timeout=15) == status
    finally:
        launcher.kill()
        launcher.communicate()
    assert all(gone(pid) for pid in pids)


# ---- the command -----------------------------------------------------------------------


@pytest.fixture
def command(fake, monkeypatch):
    """Runs ``tfdirectspec cluster ...`` through cli.main with the fake as the program."""
    monkeypatch.setattr(cluster_command, "worker_program", lambda: list(fake))

    def run(*argv: str, actions: str = "ok") -> int:
        monkeypatch.setenv("FAKE_ACTIONS", actions)
        return main(["cluster", *argv])

    return run


def test_the_workers_run_train_with_the_launcher_flags(command, capsys):
    assert command("--workers", "2", "--", "train", "--epochs", "3", "--loss", "bpr") == 0
    seen = reports(capsys.readouterr().out)
    assert sorted(r["index"] for r in seen) == [0, 1]
    expected = "train --epochs 3 --loss bpr --strategy multi-worker --cluster-timeout 300"
    assert all(r["argv"] == expected.split() for r in seen)
    assert command("--workers", "1", "--cluster-timeout", "9", "--", "train") == 0
    assert reports(capsys.readouterr().out)[0]["argv"][-2:] == ["--cluster-timeout", "9"]


def _interrupted_run(output: Path, checkpoint: bool) -> None:
    """What a chief leaves in the staging folder: config.json, then a committed checkpoint."""
    staging = output.parent / f".{output.name}.partial"
    (staging / "checkpoints").mkdir(parents=True)
    (staging / "config.json").write_text("{}")
    if checkpoint:
        (staging / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')


@pytest.mark.parametrize("checkpoint", [True, False])
@pytest.mark.parametrize("form", ["--output DIR", "--output=DIR"])
def test_a_restart_resumes_the_run_once_it_has_a_checkpoint(
    command, capsys, monkeypatch, tmp_path, checkpoint, form
):
    output = tmp_path / "run"
    _interrupted_run(output, checkpoint)
    kill_in_command(monkeypatch)
    args = ["--epochs", "3", *form.replace("DIR", str(output)).split(), "--verbose", "0"]
    args += ["--no-spectrum", "--spectrum-every", "2", "--lr", "0.1"]
    assert command("--workers", "2", "--", "train", *args, actions="once") == 0
    captured = capsys.readouterr()
    launcher = ["--strategy", "multi-worker", "--cluster-timeout", "300"]
    first = ["train", *args, *launcher]
    if checkpoint:
        again = ["train", "--resume", str(output), "--verbose", "0", "--no-spectrum"]
        again += ["--spectrum-every", "2", *launcher]
        where = "from the last checkpoint"
    else:
        again, where = first, "from the start"
    first_start, second_start = argvs_by_start(captured.out)
    assert all(argv == first for argv in first_start)
    assert second_start == [again, again]
    assert (
        f"worker 1 was killed by SIGKILL; restarting the cluster {where} (restart 1 of 3)"
        in captured.err
    )


def test_a_resumed_run_restarts_as_it_was_given(command, capsys, monkeypatch, tmp_path):
    kill_in_command(monkeypatch)
    args = ["train", "--resume", str(tmp_path / "run"), "--refit"]
    assert command("--workers", "2", "--restarts", "1", "--", *args, actions="once") == 0
    starts = argvs_by_start(capsys.readouterr().out)
    assert len(starts) == 2 and len(starts[1]) == 2
    assert all(argv[: len(args)] == args for start in starts for argv in start)


def test_without_output_there_are_no_restarts(command, capsys, monkeypatch):
    kill_in_command(monkeypatch)
    status = command("--workers", "2", "--restarts", "2", "--", "train", actions="once")
    assert status == 128 + signal.SIGKILL  # the chief was stopped: worker 1's death counts
    err = capsys.readouterr().err
    assert "no restarts without --output DIR" in err
    assert (
        "tfdirectspec cluster: worker 1 was killed by SIGKILL; stopped the other workers\n" in err
    )


def test_a_run_the_chief_finished_is_not_restarted(tmp_path):
    output = tmp_path / "run"
    parsed = cluster_command.parse_train_args(["--output", str(output)])
    resume = cluster_command.restart_command(["--output", str(output)], parsed, 300)
    assert resume() == Restart(cluster_command.worker_argv(["--output", str(output)], 300), False)
    output.mkdir()
    (output / "metrics.json").write_text("{}")
    assert resume() is None


@pytest.mark.parametrize(
    "argv,message",
    [
        ("--workers 0 -- train --output run", "--workers must be positive, got 0"),
        ("-- train --output run", "--workers N is required"),
        ("--workers 2 train --output run", "put the worker command after --"),
        ("--workers 2 --", "no worker command after --"),
        ("--workers 2 -- tune --output run", "cluster runs train only (-- train ARGS), got 'tune'"),
        ("--workers 2 -- train --strategy mirrored --output run", "--strategy: the cluster runs"),
        ("--workers 2 -- train --output run --strategy=default", "--strategy: the cluster runs"),
        ("--workers 2 -- train --strat default --output run", "--strategy: the cluster runs"),
        ("--workers 2 -- train --cluster-timeout 5 --output run", "--cluster-timeout goes before"),
        ("--workers 2 -- train --epohcs 3 --output run", "train: unrecognized arguments: --epohcs"),
        ("--workers 2 -- train --epochs x --output run", "train: argument --epochs"),
        ("--workers 2 --cluster-timeout 0 -- train --output run", "--cluster-timeout must be"),
        ("--workers 2 --restarts -1 -- train --output run", "--restarts must be >= 0, got -1"),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(
    command, capsys, tmp_path, monkeypatch, argv, message
):
    monkeypatch.chdir(tmp_path)
    assert command(*argv.split()) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfdirectspec: error: "), lines
    assert message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_loads_no_tensorflow():
    code = """
import sys, tfdirectspec.cli, tfdirectspec.commands.cluster, tfdirectspec.distributed.launcher
try:
    tfdirectspec.cli.main(["cluster", "--help"])
except SystemExit as done:
    assert done.code == 0
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--restarts K" in result.stdout and "without one" in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"
