"""The `tfdirectspec train` / `evaluate` commands: end to end and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfdirectspec.cli import main


def _train(data_dir, output, *extra):
    argv = ["train", "--data-dir", str(data_dir), "--output", str(output), "--verbose", "0"]
    return main([*argv, "--epochs", "2", "--batch-size", "32", "--eval-every", "1", *extra])


def test_train_writes_run_directory_and_evaluate_reproduces_it(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(data_dir, out, "--valid-fraction", "0.2", "--seed", "3") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("ndcg@20", "recall@20", "ndcg@10", "recall@10"):
        assert 0 <= metrics["test"][key] <= 1
        assert key in metrics["valid"]
    for key in ("best_epoch", "epochs_run", "train_seconds", "seconds_per_epoch", "config"):
        assert key in metrics
    assert set(metrics["erank"]) == {"user", "item", "all"}
    stages = ("read_data", "build", "fit", "tables", "test_evaluation", "spectrum")
    assert list(metrics["stage_seconds"]) == list(stages)
    assert all(seconds >= 0 for seconds in metrics["stage_seconds"].values())
    # A data folder has no zoo entry: the loss's default recipe (Adam), with the flags' epochs.
    assert metrics["config"]["loss"] == "directspec+" and metrics["config"]["optimizer"] == "adam"
    assert metrics["epochs_run"] == 2
    assert (out / "model.keras").is_file()
    assert not list(tmp_path.glob(".*partial"))
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    again = json.loads(capsys.readouterr().out)["test"]
    for key in ("ndcg@20", "recall@20"):
        assert again[key] == pytest.approx(metrics["test"][key], abs=1e-6)


@pytest.mark.slow
def test_same_seed_same_model(data_dir, tmp_path):
    for name in ("a", "b"):
        assert _train(data_dir, tmp_path / name, "--loss", "bpr", "--seed", "5") == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())["test"]
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())["test"]
    assert a == b


def test_existing_output_is_refused_unless_overwrite(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert _train(data_dir, out) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--output" in err and "--overwrite" in err
    assert (out / "keep.txt").exists()
    assert _train(data_dir, out, "--overwrite") == 0
    assert not (out / "keep.txt").exists()


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--lr", "-1"], "--lr"),
        (["--batch-size", "0"], "--batch-size"),
        (["--dim", "0"], "--dim"),
        (["--epochs", "0"], "--epochs"),
        (["--ks", "20", "500"], "--ks"),
        (["--valid-fraction", "1.5"], "--valid-fraction"),
        (["--tau0", "2.5"], "--tau0"),
        (["--layers", "50", "--tower", "lightgcn"], "--layers"),
        (["--time-budget", "-1"], "--time-budget"),
        (["--group-size", "5"], "--group-size"),
        (["--group-size", "8", "--loss", "bpr"], "--group-size"),
        (["--group-size", "8", "--tau0", "2.5", "--tau1", "3"], "--group-size"),
        (["--eval-users", "0"], "--eval-users"),
        (["--eval-users", "-3"], "--eval-users"),
    ],
)
def test_bad_flags_fail_with_one_line_and_write_nothing(
    data_dir, tmp_path, capsys, flags, expected
):
    out = tmp_path / "run"
    assert _train(data_dir, out, *flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tfdirectspec: error:") and expected in err and "\n" not in err
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "flags,expected",
    [(["--loss", "nope"], "--loss"), (["--tower", "nope"], "--tower")],
)
def test_unknown_names_are_usage_errors(data_dir, tmp_path, capsys, flags, expected):
    with pytest.raises(SystemExit) as exit_info:
        _train(data_dir, tmp_path / "run", *flags)
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


def test_unknown_dataset(tmp_path, capsys):
    assert main(["train", "--dataset", "movielens-9m", "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "movielens-9m" in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "content,expected",
    [
        ("0\t1\n1\n", "train.tsv:2"),
        # String ids are ids now ("x", "-3"); these lines are malformed whatever the ids.
        ("0\t1\n\t2\n", "train.tsv:2: empty user id"),
        ("0\t1\n3\t4\t5\n", "train.tsv:2: expected 2 fields, got 3"),
        ("", "train.tsv"),
    ],
)
def test_malformed_data_names_file_and_line(tmp_path, capsys, content, expected):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.tsv").write_text(content)
    (folder / "test.tsv").write_text("0\t1\n")
    assert _train(folder, tmp_path / "run") == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_time_budget_stops_at_an_epoch_boundary_and_evaluates(data_dir, tmp_path):
    out = tmp_path / "run"
    assert _train(data_dir, out, "--epochs", "50", "--time-budget", "1e-6") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_by_time_budget"] is True
    assert metrics["epochs_run"] == 1 and metrics["test"]["ndcg@20"] >= 0
    assert _train(data_dir, out, "--overwrite", "--time-budget", "60") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_by_time_budget"] is False and metrics["epochs_run"] == 2


@pytest.mark.slow
def test_grouped_directspec_plus_trains_lightgcn(data_dir, tmp_path):
    out = tmp_path / "run"
    flags = ("--tower", "lightgcn", "--batch-size", "32", "--group-size", "8")
    assert _train(data_dir, out, *flags) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["group_size"] == 8 and np.isfinite(metrics["history"][-1]["loss"])


def test_non_finite_loss_stops_and_keeps_last_good_weights(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = _train(data_dir, out, "--loss", "bpr", "--optimizer", "sgd", "--lr", "1e30")
    assert code == 1
    assert "non-finite loss" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert "non-finite" in metrics["failure"]
    assert np.isfinite(metrics["erank"]["all"])


def test_evaluate_refuses_unfinished_run(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    assert main(["evaluate", str(tmp_path / "half")]) == 2
    assert "not a finished run" in capsys.readouterr().err


def test_test_fraction_splits_a_folder_without_test(tmp_path, data_dir):
    folder = tmp_path / "only-train"
    folder.mkdir()
    (folder / "train.tsv").write_text((data_dir / "train.tsv").read_text())
    out = tmp_path / "run"
    assert _train(folder, out, "--test-fraction", "0.2") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["test"] > 0 and metrics["test"]["users_evaluated"] > 0


def test_test_fraction_refused_when_data_has_a_test_split(data_dir, tmp_path, capsys):
    assert _train(data_dir, tmp_path / "run", "--test-fraction", "0.2") == 2
    assert "--test-fraction" in capsys.readouterr().err


def test_eval_users_samples_validation_and_test_and_writes_intervals(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    flags = ("--valid-fraction", "0.2", "--eval-users", "15", "--seed", "4", "--ks", "5", "10")
    assert _train(data_dir, out, *flags) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["eval_users"] == 15 and metrics["test"]["users_evaluated"] == 40
    for split in ("test", "valid"):
        m = metrics[split]
        assert m["users_sampled"] == 15 and m["users_evaluated"] >= 15
        for key in ("ndcg@10", "recall@5"):
            assert m[f"{key}_ci95"] >= 0 and 0 <= m[key] <= 1
    assert all(r["valid"]["users_sampled"] == 15 for r in metrics["history"])
    capsys.readouterr()
    # evaluate is exact unless asked; with the same N it draws the run's sample (its seed).
    assert main(["evaluate", str(out)]) == 0
    exact = json.loads(capsys.readouterr().out)["test"]
    assert "users_sampled" not in exact and "ndcg@10_ci95" not in exact
    assert main(["evaluate", str(out), "--eval-users", "15"]) == 0
    again = json.loads(capsys.readouterr().out)["test"]
    assert again["ndcg@10"] == pytest.approx(metrics["test"]["ndcg@10"], abs=1e-6)
    assert again["ndcg@10_ci95"] == pytest.approx(metrics["test"]["ndcg@10_ci95"], abs=1e-6)
    assert main(["evaluate", str(out), "--eval-users", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--eval-users" in err and "\n" not in err
