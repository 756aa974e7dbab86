"""A run SIGKILLed at the checkpoint's weak points resumes to the uninterrupted result.

Training runs in subprocesses (``python -m tfdirectspec train``); the killed ones run
``tests/fault_driver.py``, the same command with a kill point of
``tests/fault_injection.py`` installed (an ``EpochCheckpoint`` subclass that SIGKILLs
its process through the checkpoint's hooks): inside a checkpoint write, between the
evaluation state and the checkpoint, and after training but before the run is stored.
One run is killed at each in turn and resumed with ``--resume``; its final model must
equal, bit for bit, that of an uninterrupted run of the same config (CPU float32
arithmetic on the same batches in the same order is deterministic).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fault_injection import POINTS, parse_point

from tfdirectspec.training.checkpoint import EpochCheckpoint
from tfdirectspec.training.run_dir import Run

#: Subprocesses or scale: `pytest -m "not slow"` skips this file (.ci/run runs it).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("fault_driver.py")
EPOCHS = 4


def _command(data_dir: Path, output: Path) -> list[str]:
    """``python -m tfdirectspec train ...`` of the run."""
    # Adam: its slots and step counter (read by the decaying schedule) must be restored too.
    # A validation split evaluated every epoch: the evaluation state matters for the result.
    flags = f"""--data-dir {data_dir} --tower mf --loss directspec+ --epochs {EPOCHS}
        --batch-size 16 --dim 8 --optimizer adam --lr 0.01 --lr-decay 0.8 --valid-fraction 0.3
        --eval-every 1 --track-test --ks 5 --steps-per-execution 5 --no-spectrum --verbose 0
        --output {output}"""
    return [sys.executable, "-m", "tfdirectspec", "train", *flags.split()]


def _resume(output: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tfdirectspec",
        "train",
        "--resume",
        str(output),
        "--verbose",
        "0",
    ]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["KERAS_BACKEND"] = "tensorflow"
    return env


def _killed(command: list[str], point: str) -> None:
    """Runs ``command`` (``python -m tfdirectspec ARGS``) through the fault driver, which
    must SIGKILL it at ``point``."""
    assert command[1:3] == ["-m", "tfdirectspec"], command
    faulty = [sys.executable, str(DRIVER), point, "--", *command[3:]]
    done = subprocess.run(faulty, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, (point, done.returncode, done.stderr[-2000:])


@pytest.mark.parametrize("spec", ["mid", "mid@", "mid@x", "mid@0", "boom@1", "end@1", "@2"])
def test_a_malformed_kill_point_is_refused(spec):
    with pytest.raises(ValueError):
        parse_point(spec)
    assert parse_point("truncated@2") == ("truncated", 2)
    assert parse_point("end") == ("end", None)
    assert [parse_point(f"{p}@3")[0] for p in POINTS if p != "end"] == list(POINTS[:-1])


def _evaluated_epochs(staging: Path) -> list[int]:
    import json

    state = json.loads((staging / "evaluation" / "evaluation.json").read_text())
    return [r["epoch"] for r in state["records"]]


def test_kills_at_any_checkpoint_step_resume_to_the_uninterrupted_model(data_dir, tmp_path):
    reference = tmp_path / "reference" / "run"
    reference.parent.mkdir()
    # Runs beside the interrupted one (two cores): the test waits for it at the end.
    log = tmp_path / "reference.log"
    with log.open("w") as stderr:
        straight = subprocess.Popen(
            _command(data_dir, reference), env=_env(), stdout=subprocess.DEVNULL, stderr=stderr
        )
    folder = tmp_path / "killed"
    folder.mkdir()
    output, staging = folder / "run", folder / ".run.partial"
    checkpoint = EpochCheckpoint(staging / "checkpoints")

    def only_staging() -> None:
        assert [p.name for p in folder.iterdir()] == [staging.name]

    # 1. Inside the write of epoch 2's checkpoint: its files are there, its data file
    #    is cut short, and it is not committed; the committed one is epoch 1's.
    _killed(_command(data_dir, output), "truncated@2")
    only_staging()
    assert checkpoint.completed_epochs() == 1
    assert list((staging / "checkpoints").glob("ckpt-2.data-*")), "the hook wrote nothing"
    assert _evaluated_epochs(staging) == [1, 2]  # the evaluation state is one epoch ahead

    # 2. Between epoch 3's evaluation state and its checkpoint.
    _killed(_resume(output), "before@3")
    only_staging()
    assert checkpoint.completed_epochs() == 2
    assert _evaluated_epochs(staging) == [1, 2, 3]

    # 3. Training finished and checkpointed, the run not yet stored.
    _killed(_resume(output), "end")
    only_staging()
    assert checkpoint.completed_epochs() == EPOCHS

    # 4. Resumed with nothing left to train: the run is stored.
    done = subprocess.run(_resume(output), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == ["run"]
    assert not (output / "checkpoints").exists() and not (output / "evaluation").exists()

    assert straight.wait(timeout=300) == 0, log.read_text()[-2000:]
    a, b = Run.open(reference).load_model(), Run.open(output).load_model()
    assert len(a.weights) == len(b.weights) > 0
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy())
    for x, y in zip(a.tables(), b.tables(), strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    ma, mb = Run.open(reference).metrics(), Run.open(output).metrics()
    assert [r["epoch"] for r in mb["history"]] == list(range(1, EPOCHS + 1))
    for ra, rb in zip(ma["history"], mb["history"], strict=True):
        assert (ra["valid"], ra["test"]) == (rb["valid"], rb["test"])
    assert (ma["best_epoch"], ma["valid"], ma["test"]) == (
        mb["best_epoch"],
        mb["valid"],
        mb["test"],
    )
    assert mb["epochs_run"] == EPOCHS
