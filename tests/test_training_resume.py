"""Keras-native saving and resuming: ``.keras`` round trip, ModelCheckpoint, ``train --resume``."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from keras_roundtrip import assert_round_trip, assert_same_model

from tfdirectspec import cli
from tfdirectspec.commands import train as train_command
from tfdirectspec.training.callbacks import RankingEvaluation
from tfdirectspec.training.checkpoint import EpochCheckpoint
from tfdirectspec.training.config import TrainConfig, load_data
from tfdirectspec.training.run_dir import Run
from tfdirectspec.training.trainer import build_model, train

#: Subprocesses or scale: `pytest -m "not slow"` skips this file (.ci/run runs it).
pytestmark = pytest.mark.slow

EPOCHS = 4
KILL_EPOCH = 2  # zero-based: killed inside the third epoch, after two checkpoints


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("resume_data")
    users, items = 40, 30
    train_pairs = {(u, int(i)) for u in range(users) for i in rng.choice(items, 6, replace=False)}
    test_pairs = {(u, int(rng.integers(items))) for u in range(users)} - train_pairs
    for name, pairs in (("train", train_pairs), ("test", test_pairs)):
        lines = [f"{u}\t{i}" for u, i in sorted(pairs)]
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def _train_args(data_dir: Path, output: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--data-dir",
        str(data_dir),
        "--tower",
        "mf",
        "--loss",
        "directspec+",
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "16",
        "--dim",
        "8",
        "--lr",
        "2.0",
        "--lr-decay",
        "0.8",  # the schedule reads the optimizer's step counter: it must be restored too
        "--shrink",
        "0.3",
        "--eval-every",
        "2",
        "--steps-per-execution",
        "3",
        "--ks",
        "5",
        "--output",
        str(output),
        "--verbose",
        "0",
        *extra,
    ]


class _Kill(keras.callbacks.Callback):
    """Raises in the middle of epoch ``epoch`` (a stand-in for a killed process)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch
        self._current = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._current == self.epoch:
            raise RuntimeError("killed")


def test_killed_run_resumes_to_the_uninterrupted_weights(data_dir, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    assert cli.main(_train_args(data_dir, straight)) == 0

    resumed = tmp_path / "resumed"
    original = train_command.extra_callbacks
    monkeypatch.setattr(
        train_command,
        "extra_callbacks",
        lambda *a: [*original(*a), _Kill(KILL_EPOCH)],
    )
    with pytest.raises(RuntimeError, match="killed"):
        cli.main(_train_args(data_dir, resumed))
    staging = tmp_path / ".resumed.partial"
    assert not resumed.exists(), "an interrupted run must not appear at --output"
    assert EpochCheckpoint(staging / "checkpoints").completed_epochs() == KILL_EPOCH
    assert (staging / "config.json").is_file()
    monkeypatch.setattr(train_command, "extra_callbacks", original)

    assert cli.main(["train", "--resume", str(resumed), "--verbose", "0"]) == 0
    assert not staging.exists()
    a, b = Run.open(straight).load_model(), Run.open(resumed).load_model()
    assert len(a.weights) == len(b.weights) > 0
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy())
    moved = Run.open(straight).load_model().tower.user_embeddings.numpy()
    assert not np.allclose(moved, 0.0)
    assert Run.open(resumed).metrics()["epochs_run"] == EPOCHS
    assert Run.open(resumed).metrics()["test"] == Run.open(straight).metrics()["test"]


def test_resumed_run_keeps_the_selection_and_curves_of_its_first_part(
    data_dir, tmp_path, monkeypatch
):
    # With a validation split the reported model is the best epoch over the whole
    # run, epochs before the interruption included.
    extra = ("--valid-fraction", "0.3", "--eval-every", "1", "--track-test")
    straight = tmp_path / "straight"
    assert cli.main(_train_args(data_dir, straight, *extra)) == 0

    resumed = tmp_path / "resumed"
    original = train_command.extra_callbacks
    monkeypatch.setattr(
        train_command, "extra_callbacks", lambda *a: [*original(*a), _Kill(KILL_EPOCH)]
    )
    with pytest.raises(RuntimeError, match="killed"):
        cli.main(_train_args(data_dir, resumed, *extra))
    state = Run.staging_folder(resumed) / "evaluation"
    assert state == Run.resume(resumed).evaluation_dir
    assert (state / "evaluation.json").is_file()
    monkeypatch.setattr(train_command, "extra_callbacks", original)
    assert cli.main(["train", "--resume", str(resumed), "--verbose", "0"]) == 0

    a, b = Run.open(straight).metrics(), Run.open(resumed).metrics()
    assert [r["epoch"] for r in b["history"]] == list(range(1, EPOCHS + 1))
    for ra, rb in zip(a["history"], b["history"], strict=True):
        assert (ra["epoch"], ra["valid"], ra["test"]) == (rb["epoch"], rb["valid"], rb["test"])
    walls = [r["wall_seconds"] for r in b["history"]]
    assert walls == sorted(walls)
    assert (a["best_epoch"], a["valid"], a["test"]) == (b["best_epoch"], b["valid"], b["test"])
    assert not (resumed / "evaluation").exists()


def test_resume_bad_input(data_dir, tmp_path, capsys):
    finished = tmp_path / "finished"
    finished.mkdir()
    assert cli.main(["train", "--resume", str(finished)]) == 2
    assert "finished run" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(tmp_path / "never")]) == 2
    assert "no interrupted run" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(tmp_path / "x"), "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "drop --epochs" in err and len(err.strip().splitlines()) == 1


def test_keras_file_and_model_checkpoint_round_trip(tiny_config, tmp_path):
    config = tiny_config()
    checkpoint = tmp_path / "best.keras"
    result = train(
        config,
        callbacks=[keras.callbacks.ModelCheckpoint(str(checkpoint), save_weights_only=False)],
        verbose=0,
    )
    restored = assert_round_trip(result.model, tmp_path)
    assert restored.get_config()["tower"]["config"]["num_users"] == 40
    # The last epoch's ModelCheckpoint file is the final model too.
    assert_same_model(result.model, keras.saving.load_model(checkpoint, safe_mode=True))


def test_evaluation_state_drops_epochs_evaluated_after_the_checkpoint(tmp_path):
    # A kill between the evaluation of epoch 3 and its checkpoint leaves a state one
    # epoch ahead: resuming from epoch 2 must forget epoch 3 and find epoch 2's weights.
    empty = sp.csr_matrix((3, 4), dtype=np.float32)
    state = tmp_path / "evaluation"
    saved = RankingEvaluation(empty, empty, empty, ks=(2,), monitor="ndcg@2", state_dir=state)
    for epoch, value in ((1, 0.1), (2, 0.2), (3, 0.3)):
        saved.records.append({"epoch": epoch, "wall_seconds": epoch, "valid": {"ndcg@2": value}})
        saved.best_epoch, saved.best_value = epoch, value
        saved.best_weights = [np.full(2, epoch, np.float32)]
        saved._save_state()
    assert sorted(p.name for p in state.glob("best-*")) == ["best-2.npz", "best-3.npz"]

    resumed = RankingEvaluation(empty, empty, empty, ks=(2,), monitor="ndcg@2", state_dir=state)
    resumed.restore_state(2)
    assert [r["epoch"] for r in resumed.records] == [1, 2]
    assert (resumed.best_epoch, resumed.best_value) == (2, 0.2)
    np.testing.assert_array_equal(resumed.best_weights[0], [2.0, 2.0])
    resumed.clear_state()
    assert not state.exists()


def test_an_epoch_is_exactly_its_steps_whatever_steps_per_execution(tiny_config):
    # 240 pairs / batch 16 = 15 steps an epoch; 4 steps per execution do not divide 15,
    # and Keras would run 16 steps an epoch (whole executions) without a divisor.
    config = tiny_config(epochs=3, eval_every=3, steps_per_execution=4)
    result = train(config, verbose=0)
    assert result.metrics["steps_per_epoch"] == 15
    assert int(result.model.optimizer.iterations) == 3 * 15


def test_epoch_checkpoint_restores_weights_optimizer_state_and_epoch(data_dir, tmp_path):
    config = TrainConfig(
        dataset=None,
        data_dir=str(data_dir),
        epochs=3,
        batch_size=16,
        dim=8,
        optimizer="adam",
        lr=0.01,
        lr_decay=0.8,
        eval_every=3,
        ks=(5,),
    )
    folder = tmp_path / "checkpoints"
    assert EpochCheckpoint(folder).completed_epochs() == 0
    quiet = EpochCheckpoint(tmp_path / "not-chief", write=False)
    result = train(config, callbacks=[EpochCheckpoint(folder, keep=2), quiet], verbose=0)
    assert not quiet.directory.exists()
    assert sorted(p.name for p in folder.glob("*.index")) == ["ckpt-2.index", "ckpt-3.index"]
    assert EpochCheckpoint(folder).completed_epochs() == 3

    steps = result.metrics["steps_per_epoch"]
    fresh = build_model(config, load_data(config), steps)
    assert not fresh.optimizer.built  # slots are created by restore
    assert EpochCheckpoint(folder).restore(fresh) == 3
    assert int(fresh.optimizer.iterations) == 3 * steps
    trained = [*result.model.weights, *result.model.optimizer.variables]
    restored = [*fresh.weights, *fresh.optimizer.variables]
    assert len(trained) == len(restored) > len(result.model.weights) + 1  # Adam slots too
    for a, b in zip(trained, restored, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    EpochCheckpoint(folder).delete()
    assert not folder.exists()
