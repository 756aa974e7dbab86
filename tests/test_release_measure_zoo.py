"""``pipelines/release/measure_zoo.py``: what it plans, and one real measurement on tiny data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_modules import load_pipeline
from zoo_files import finished_run, unfinished_run, write_entry

from tfdirectspec.training.zoo import config_hash, resolve_entry

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "pipelines" / "release" / "measure_zoo.py"

measure_zoo = load_pipeline("release/measure_zoo")
zoo_results = load_pipeline("release/zoo_results")


def _config(models: Path, entry: str, **changes) -> dict:
    return {**resolve_entry(models / f"{entry}.toml").to_dict(), **changes}


@pytest.fixture
def zoo(tmp_path):
    """Entries in every situation a start can find (see the names), and a runs folder."""
    models, runs = tmp_path / "models", tmp_path / "runs"
    names = ("current", "finished", "unfinished", "finished-other", "unfinished-other", "new")
    for name in names:
        write_entry(models, name, epochs=3)
    write_entry(models, "baseline", loss="ease", epochs=1)  # no checkpoints: no --resume
    result = finished_run(tmp_path / "done", _config(models, "current"))
    zoo_results.collect(result, "current", models)
    finished_run(runs / "finished", _config(models, "finished"))
    unfinished_run(runs / "unfinished", _config(models, "unfinished"))
    finished_run(runs / "finished-other", _config(models, "finished-other", epochs=2))
    unfinished_run(runs / "unfinished-other", _config(models, "unfinished-other", lr=0.5))
    unfinished_run(runs / "baseline", _config(models, "baseline"))
    return models, runs


def test_the_plan_follows_the_results_and_the_run_directories(zoo):
    models, runs = zoo
    steps = {s.state.name: s for s in measure_zoo.plan(models, runs)}
    assert {name: (s.state.status, s.action) for name, s in steps.items()} == {
        "baseline": ("missing", "train"),
        "current": ("current", "skip"),
        "finished": ("missing", "collect"),
        "finished-other": ("missing", "overwrite"),
        "new": ("missing", "train"),
        "unfinished": ("missing", "resume"),
        "unfinished-other": ("missing", "train"),
    }
    assert steps["unfinished"].train_args() == [
        "--resume",
        str(runs / "unfinished"),
        "--verbose",
        "2",
    ]
    new = steps["new"].train_args()
    assert new[:4] == ["--config", str(models / "new.toml"), "--output", str(runs / "new")]
    assert steps["finished-other"].train_args()[-1] == "--overwrite"
    assert steps["current"].train_args() == [] and steps["finished"].train_args() == []
    assert steps["new"].log == runs / "new.log"


def test_a_changed_entry_is_stale_and_measured_again(zoo):
    models, runs = zoo
    write_entry(models, "current", epochs=4)
    step = {s.state.name: s for s in measure_zoo.plan(models, runs)}["current"]
    assert (step.state.status, step.state.note, step.action) == (
        "stale",
        "epochs 3 (entry 4)",
        "train",
    )


def test_only_plans_the_matching_entries(zoo):
    models, runs = zoo
    names = [s.state.name for s in measure_zoo.plan(models, runs, ["finished*", "new"])]
    assert names == ["finished", "finished-other", "new"]


def test_a_dry_run_prints_the_plan_and_changes_nothing(zoo, capsys):
    models, runs = zoo
    before = sorted(p.name for p in runs.iterdir()), sorted((models / "results").iterdir())
    argv = ["--dry-run", "--models", str(models), "--runs", str(runs)]
    assert measure_zoo.main(argv) == 0
    out = capsys.readouterr().out
    assert "current  current: current-e3.json" in out
    assert f"resume: tfdirectspec train --resume {runs / 'unfinished'} --verbose 2" in out
    assert "collect: python pipelines/release/zoo_results.py" in out
    assert out.rstrip().endswith(f"7 entries, 6 to measure (runs in {runs})")
    assert (
        sorted(p.name for p in runs.iterdir()),
        sorted((models / "results").iterdir()),
    ) == before


def test_a_finished_run_is_collected_without_training(zoo, capsys):
    models, runs = zoo
    argv = ["--models", str(models), "--runs", str(runs), "--only", "finished"]
    assert measure_zoo.main(argv) == 0
    result = json.loads((models / "results" / "finished-e3.json").read_text())
    assert result["config_hash"] == config_hash(_config(models, "finished"))
    assert "| finished | measured |" in (models / "README.md").read_text()
    assert not (runs / "finished.log").exists()  # nothing trained
    assert "done: 1 measured, 0 failed" in capsys.readouterr().out


def test_a_second_copy_does_not_start(zoo, capsys):
    models, runs = zoo
    with measure_zoo.locked(runs) as ours:
        assert ours
        assert measure_zoo.main(["--models", str(models), "--runs", str(runs)]) == 2
    assert "another measure_zoo holds" in capsys.readouterr().out


def _measure(models: Path, runs: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    argv = [sys.executable, str(SCRIPT), "--models", str(models), "--runs", str(runs)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=240)


@pytest.mark.slow
def test_an_interrupted_entry_is_resumed_collected_then_left_alone(tmp_path, data_dir):
    """A kill before the first checkpoint left a staging folder: the next start resumes it."""
    models, runs = tmp_path / "models", tmp_path / "runs"
    keys = dict(dataset="tiny", data_dir=str(data_dir), epochs=1, dim=4, batch_size=16)
    write_entry(models, "tiny-mf-bpr", **keys, eval_every=1, ks=[5])
    entry = _config(models, "tiny-mf-bpr")
    unfinished_run(runs / "tiny-mf-bpr", entry)

    first = _measure(models, runs)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "resume: tfdirectspec train --resume" in first.stdout
    assert "--resume" in (runs / "tiny-mf-bpr.log").read_text()
    result_file = models / "results" / "tiny-mf-bpr-e1.json"
    result = json.loads(result_file.read_text())
    assert result["config_hash"] == config_hash(entry)
    assert "| tiny-mf-bpr | measured | 1 (1) |" in (models / "README.md").read_text()
    assert (runs / "tiny-mf-bpr" / "metrics.json").is_file()

    written = result_file.stat().st_mtime_ns
    second = _measure(models, runs)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "done: 0 measured, 0 failed" in second.stdout
    assert result_file.stat().st_mtime_ns == written
