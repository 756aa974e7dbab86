"""Keras-native saving and resuming: ``.keras`` round trip, ModelCheckpoint, ``train --resume``."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from tfdirectspec import cli
from tfdirectspec.commands import train as train_command
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.run_dir import load_model, read_metrics
from tfdirectspec.training.trainer import train

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


def _train_args(data_dir: Path, output: Path) -> list[str]:
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
    assert (staging / "checkpoints" / "training_metadata.json").is_file()
    assert (staging / "config.json").is_file()
    monkeypatch.setattr(train_command, "extra_callbacks", original)

    assert cli.main(["train", "--resume", str(resumed), "--verbose", "0"]) == 0
    assert not staging.exists()
    a, b = load_model(straight), load_model(resumed)
    assert len(a.weights) == len(b.weights) > 0
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy())
    moved = load_model(straight).tower.user_embeddings.numpy()
    assert not np.allclose(moved, 0.0)
    assert read_metrics(resumed)["epochs_run"] == EPOCHS
    assert read_metrics(resumed)["test"] == read_metrics(straight)["test"]


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


def test_keras_file_and_model_checkpoint_round_trip(data_dir, tmp_path):
    config = TrainConfig(
        dataset=None,
        data_dir=str(data_dir),
        epochs=2,
        batch_size=16,
        dim=8,
        lr=2.0,
        shrink=0.3,
        eval_every=2,
        steps_per_execution=3,
        ks=(5,),
    )
    checkpoint = tmp_path / "best.keras"
    result = train(
        config,
        callbacks=[keras.callbacks.ModelCheckpoint(str(checkpoint), save_weights_only=False)],
        verbose=0,
    )
    saved = tmp_path / "model.keras"
    result.model.save(saved)
    batch = {"user": np.arange(10, dtype=np.int64), "item": np.arange(10, dtype=np.int64) % 7}
    expected = result.model(batch)
    for path in (saved, checkpoint):
        restored = keras.saving.load_model(path, safe_mode=True)
        got = restored(batch)
        for key in ("user", "item"):
            np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
        for x, y in zip(restored.tables(), result.model.tables(), strict=True):
            np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert type(restored).__name__ == "RetrievalModel"
    assert restored.get_config()["tower"]["config"]["num_users"] == 40
