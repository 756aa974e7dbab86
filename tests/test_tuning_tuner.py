"""`tfdirectspec tune`: search spaces, early stopping, budget, trials, resume, best.toml, refit."""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import tomllib

import keras
import pytest

import tfdirectspec.training.refit as refit_module
import tfdirectspec.training.trainer as trainer_module
from tfdirectspec.cli import main
from tfdirectspec.commands import train as train_command
from tfdirectspec.errors import InputError
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.recipes import read_recipe
from tfdirectspec.tuning.budget import TrialBudget
from tfdirectspec.tuning.early_stopping import HopelessTrialStop, median_stop
from tfdirectspec.tuning.space import (
    dump_space,
    load_space,
    load_space_text,
    losses_with_space,
    space_path,
)
from tfdirectspec.tuning.toml_writer import config_toml

# ---- search spaces ---------------------------------------------------------------------------


def test_every_shipped_space_round_trips_and_contains_its_default_recipe():
    losses = losses_with_space()
    assert {"directspec+", "directspec", "bpr", "directau", "ssm"} <= set(losses)
    for loss in losses:
        space = load_space(space_path(loss))
        again = load_space_text(dump_space(space), "dumped.toml", loss)
        assert again == space and again.to_dict() == space.to_dict()
        recipe, _, _ = read_recipe(loss)
        hps = space.hyperparameters(recipe)
        assert hps.get_config() == again.hyperparameters(recipe).get_config()
        for key, value in hps.values.items():  # a data-dir tune's first trial: it must fit
            assert value == pytest.approx(recipe[key]), (loss, key)


def test_directspec_plus_space_reaches_beyond_the_optimiser():
    space = load_space(space_path("directspec+"))
    assert {"alpha", "tau", "shrink"} <= set(space.params)
    assert space.params["shrink"].kind == "choice" and 0.0 in space.params["shrink"].values


def test_space_kinds_map_to_keras_tuner():
    text = (
        "lr = { log_uniform = [0.0001, 0.1] }\nalpha = { uniform = [0.3, 1.5] }\n"
        'optimizer = { choice = ["adam", "sgd"] }\nshrink = { choice = [0, 0.01, 0.1] }\n'
        "dim = { int = [32, 128], step = 32 }\nbatch_size = { log_int = [256, 4096] }\n"
    )
    space = load_space_text(text, "s.toml", "directspec+")
    assert space.params["shrink"].values == (0.0, 0.01, 0.1)  # floats for a float key
    assert load_space_text(dump_space(space), "d.toml", "directspec+") == space
    config = {h["config"]["name"]: h for h in space.hyperparameters().get_config()["space"]}
    assert config["lr"]["class_name"] == "Float" and config["lr"]["config"]["sampling"] == "log"
    assert config["dim"]["class_name"] == "Int" and config["dim"]["config"]["step"] == 32
    assert config["batch_size"]["config"]["sampling"] == "log"
    assert config["optimizer"]["class_name"] == "Choice"


@pytest.mark.parametrize(
    "text,key",
    [
        ("lr = { log_uniform = [0.001, 0.1] }\nwidth = { uniform = [1, 2] }", "width"),
        ("seed = { choice = [1, 2] }", "seed"),
        ("lr = { normal = [0.0, 1.0] }", "lr"),
        ("lr = 0.1", "lr"),
        ("lr = { uniform = [0.1, 0.01] }", "lr"),
        ("lr = { log_uniform = [0.0, 0.1] }", "lr"),
        ("lr = { uniform = [0.1] }", "lr"),
        ("alpha = { uniform = [0.5, 1.0], choice = [1.0] }", "alpha"),
        ("dim = { int = [32.5, 64] }", "dim"),
        ("dim = { uniform = [32.0, 64.0] }", "dim"),
        ("dim = { int = [32, 100], step = 32 }", "dim"),
        ("optimizer = { choice = [] }", "optimizer"),
        ('optimizer = { choice = ["adam", "rmsprop"] }', "optimizer"),
        ("shrink = { choice = [0.1, 0.1] }", "shrink"),
        ("tau = { uniform = [-1.0, 2.0] }", "tau"),
        ("lr = { uniform = [0.1, 0.2 }", "line 1"),  # TOML syntax: the line is named
    ],
)
def test_bad_space_file_is_one_line_naming_file_and_key(tmp_path, text, key):
    path = tmp_path / "directspec-plus.toml"
    path.write_text(text + "\n")
    with pytest.raises(InputError) as error:
        load_space(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(path)) and key in message


def test_missing_space_names_the_loss():
    with pytest.raises(InputError, match="loss has no search space for 'positive-only'"):
        space_path("positive-only")


# ---- early stopping and budget ----------------------------------------------------------------


class _Model:
    stop_training = False


def _callback(callback, epochs):
    callback.set_model(_Model())
    callback.set_params({"epochs": epochs})
    return callback


def test_median_rule_compares_with_same_epoch_peers_only():
    peers = [[(1, 0.2), (2, 0.3)], [(1, 0.1), (2, 0.25)], [(1, 0.5)]]  # the last stopped at 1
    assert median_stop(0.2, 2, peers) and not median_stop(0.3, 2, peers)
    assert not median_stop(0.01, 2, peers[:1])  # one peer is not enough
    assert not median_stop(0.01, 3, peers)  # nobody reached epoch 3


def test_hopeless_trial_stops_by_median_then_patience():
    stop = _callback(HopelessTrialStop([[(1, 0.5), (2, 0.6)]] * 2, min_peers=2, patience=0), 5)
    stop.on_epoch_end(0, {"val_ndcg@20": 0.4})
    assert stop.stopped_by == "median" and stop.model.stop_training
    patient = _callback(HopelessTrialStop([], min_peers=2, patience=2), 10)
    for epoch, value in enumerate([0.3, 0.2, 0.25]):
        patient.on_epoch_end(epoch, {"val_ndcg@20": value})
        patient.on_epoch_end(epoch, {"loss": 1.0})  # non-evaluation epochs are ignored
    assert patient.stopped_by == "patience" and patient.stopped_epoch == 3
    assert patient.curve == [(1, 0.3), (2, 0.2), (3, 0.25)]


def test_trial_budget_stops_at_an_epoch_boundary_or_shortens_to_an_evaluated_epoch(monkeypatch):
    import tfdirectspec.tuning.budget as budget_module

    clock = [0.0]
    monkeypatch.setattr(budget_module.time, "perf_counter", lambda: clock[0])

    def run(budget, epochs, seconds_per_epoch=10.0):
        budget = _callback(budget, epochs)
        budget.on_train_begin()
        for epoch in range(epochs):
            clock[0] += seconds_per_epoch
            budget.on_epoch_end(epoch)
            if budget.model.stop_training:
                break
        return budget

    spent = run(TrialBudget(5.0, every=5), 10)
    assert spent.stopped_epoch == 1 and spent.params["epochs"] == 10
    clock[0] = 0.0
    free = run(TrialBudget(math.inf, every=5), 10)
    assert free.stopped_epoch is None and len(free.epoch_seconds) == 10
    # 35 s: after epoch 1 two more fit, the next evaluation (epoch 5) does not: the run
    # becomes 3 epochs long, so the evaluation sees epoch 3 as the last and scores it.
    clock[0] = 0.0
    short = run(TrialBudget(35.0, every=5), 10)
    assert short.params["epochs"] == 3 and short.stopped_epoch == 3
    # Its own refit is reserved too (here 10 s per epoch trained): half as many epochs fit.
    clock[0] = 0.0
    reserved = run(TrialBudget(65.0, every=10, reserve=lambda e, s: e * s), 10)
    assert reserved.stopped_epoch == 3 and reserved.params["epochs"] == 3


def test_config_toml_round_trips_through_train_config():
    config = TrainConfig(loss="bpr", lr=0.00123456789, ks=(5, 20), tau0=None, name='a "b"')
    again = TrainConfig().updated(tomllib.loads(config_toml(config, "x\ny")), "t")
    assert again == config


# ---- the command ------------------------------------------------------------------------------


def _tune(data_dir, output, *extra):
    argv = ["tune", "--data-dir", str(data_dir), "--loss", "directspec+,bpr", "--epochs", "3"]
    argv += ["--eval-every", "1", "--valid-fraction", "0.2", "--output", str(output)]
    return main([*argv, *extra])


@pytest.mark.slow
def test_tune_resumes_without_rerunning_finished_trials(data_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "tune"
    real_train = trainer_module.train
    calls, refits = [], []

    def spy(config, data=None, **kwargs):
        if config.valid_fraction == 0:  # the refit
            refits.append(config.name)
            assert data.test.nnz == 80 and data.valid.nnz == 0
            return real_train(config, data=data, **kwargs)
        calls.append(config.name)
        assert data.test.nnz == 0 and not config.track_test  # trials never see test
        if interrupt and len(calls) == 2:
            raise KeyboardInterrupt
        return real_train(config, data=data, **kwargs)

    monkeypatch.setattr(trainer_module, "train", spy)
    monkeypatch.setattr(refit_module, "train", spy)
    interrupt = True
    assert _tune(data_dir, out, "--max-trials", "3") == 130  # interrupted in trial 2
    assert calls == ["directspec-plus-0", "bpr-0"]
    assert (out / "trials" / "directspec-plus-0" / "metrics.json").is_file()
    assert not (out / "trials" / "bpr-0").exists() and not (out / "best.toml").exists()

    calls.clear()
    interrupt = False
    capsys.readouterr()
    assert main(["tune", "--resume", str(out), "--max-trials", "3"]) == 0
    assert calls == ["bpr-0", "directspec-plus-1"]  # the finished trial is not rerun
    assert refits == ["tiny0-mf-" + ("bpr" if "bpr" in refits[0] else "directspec-plus") + "-tuned"]
    printed = capsys.readouterr().out

    rows = list(csv.DictReader((out / "trials.tsv").open(), delimiter="\t"))
    assert [r["trial"] for r in rows] == ["directspec-plus-0", "bpr-0", "directspec-plus-1"]
    assert all(float(r["val_ndcg@20"]) >= 0 for r in rows) and "directspec-plus-1" in printed
    # The first trial of each loss is its default recipe (the data has no zoo entry).
    assert float(rows[0]["lr"]) == 0.01 and float(rows[0]["tau"]) == 3.0
    assert float(rows[1]["lr"]) == 0.001 and rows[1]["batch_size"] == "2048"
    for trial in rows:
        text = (out / "trials" / trial["trial"] / "metrics.json").read_text()
        assert '"test"' not in text  # nothing of the test split is recorded for a trial
        assert (out / "trials" / trial["trial"] / "config.toml").is_file()
        assert list((out / "logs" / trial["trial"]).glob("events.out.tfevents.*"))

    summary = json.loads(printed[printed.index("{") :])
    best_row = max(rows, key=lambda r: float(r["val_ndcg@20"]))
    assert summary["best_trial"] == best_row["trial"]
    assert summary["best_epoch"] == int(best_row["best_epoch"]) and "ndcg@20" in summary["test"]

    # best.toml is a train config: the winner, valid_fraction 0 and epochs = its best epoch,
    # and the refit is exactly `tfdirectspec train --config best.toml`.
    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--config", str(out / "best.toml")])
    config, _ = train_command.resolve_config(args)
    refit = json.loads((out / "refit" / "metrics.json").read_text())
    assert config.epochs == summary["best_epoch"] == refit["refit"]["epochs"]
    assert config.valid_fraction == 0.0 and config.loss == summary["loss"]
    # TOML has no null: with --data-dir, `dataset` (unused then) reads back as the default.
    assert {**refit["config"], "dataset": "-"} == {**config.to_dict(), "dataset": "-"}
    assert config.data_dir == str(data_dir)
    assert refit["selection"]["trial_id"] == summary["best_trial"]
    assert refit["data"]["valid"] == 0 and refit["data"]["train"] == 240

    calls.clear()  # resuming a finished tune trains nothing and keeps the refit
    assert main(["tune", "--resume", str(out), "--max-trials", "3"]) == 0
    assert calls == [] and len(refits) == 1


@pytest.mark.parametrize(
    "extra,expected",
    [
        (["--valid-fraction", "0"], "--valid-fraction"),
        (["--loss", "nope"], "--loss"),
        (["--loss", "positive-only"], "--loss"),
        (["--max-trials", "0"], "--max-trials"),
        (["--time-budget", "-1"], "--time-budget"),
        (["--patience", "-1"], "--patience"),
    ],
)
def test_bad_tune_flags_fail_with_one_line(data_dir, tmp_path, capsys, extra, expected):
    assert _tune(data_dir, tmp_path / "t", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expected in err
    assert not (tmp_path / "t").exists()


def test_resume_refuses_search_flags_and_missing_tunes(tmp_path, capsys):
    assert main(["tune", "--resume", str(tmp_path / "none")]) == 2
    assert "no tune" in capsys.readouterr().err
    assert main(["tune", "--resume", str(tmp_path), "--loss", "bpr"]) == 2
    assert "drop --loss" in capsys.readouterr().err


def test_existing_output_is_refused(data_dir, tmp_path, capsys):
    (tmp_path / "t").mkdir()
    assert _tune(data_dir, tmp_path / "t") == 2
    assert "--resume" in capsys.readouterr().err


def test_keras_callbacks_are_keras_callbacks():
    assert isinstance(HopelessTrialStop(), keras.callbacks.Callback)
    assert isinstance(TrialBudget(math.inf, 1), keras.callbacks.Callback)


def test_median_rule_waits_half_the_peers_best_epoch():
    from tfdirectspec.tuning.early_stopping import median_stop

    peers = [[(3, 0.12), (30, 0.13), (51, 0.133)], [(3, 0.11), (30, 0.12), (45, 0.123)]]
    assert not median_stop(0.09, 3, peers)  # a slow starter is not judged at epoch 3
    assert median_stop(0.09, 30, peers)  # past half the peers' median best epoch (48) it is


def test_trials_may_train_twice_the_recipes_epochs_unless_epochs_is_given(data_dir):
    from tfdirectspec import cli
    from tfdirectspec.commands import tune as command
    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.recipes import resolve_config

    parser = cli.build_parser()
    argv = ["tune", "--data-dir", str(data_dir), "--loss", "directspec+"]
    args = parser.parse_args(argv)
    data = command._data_of(args)
    given = {"dataset": None, "data_dir": str(data_dir), "loss": "directspec+"}
    given |= {"valid_fraction": args.valid_fraction, "seed": args.seed}
    recipe = resolve_config(TrainConfig().updated(given, "flags"), data, [(given, "flags")])
    settings = command.new_settings(args, data)
    assert settings.base["directspec+"]["epochs"] == command.TRIAL_EPOCHS_FACTOR * recipe.epochs
    fixed = command.new_settings(parser.parse_args([*argv, "--epochs", "7"]), data)
    assert fixed.base["directspec+"]["epochs"] == 7


def test_a_time_budget_without_max_trials_runs_until_the_budget(data_dir):
    from tfdirectspec import cli
    from tfdirectspec.commands import tune as command

    parser = cli.build_parser()
    argv = ["tune", "--data-dir", str(data_dir), "--loss", "directspec+"]
    data = command._data_of(parser.parse_args(argv))
    trials = {
        extra: command.new_settings(parser.parse_args([*argv, *extra]), data).max_trials
        for extra in ((), ("--time-budget", "30"), ("--time-budget", "30", "--max-trials", "4"))
    }
    assert list(trials.values()) == [
        command.DEFAULT_MAX_TRIALS,
        command.BUDGET_MAX_TRIALS,
        4,
    ]


def test_local_steps_stay_in_the_space_move_something_and_repeat_with_the_seed():
    import keras_tuner

    from tfdirectspec.tuning.local_search import local_step, reflect

    hps = keras_tuner.HyperParameters()
    hps.Float("lr", 1e-4, 1e-2, sampling="log", default=1e-3)
    hps.Float("lr_decay", 0.92, 1.0, default=1.0)
    hps.Choice("shrink", [0.0, 0.03, 0.1], default=0.1)
    start = {"lr": 1e-3, "lr_decay": 1.0, "shrink": 0.1}
    steps = [local_step(hps, start, seed) for seed in range(200)]
    assert steps[:5] == [local_step(hps, start, seed) for seed in range(5)]
    for step in steps:
        assert 1e-4 <= step["lr"] <= 1e-2 and 0.92 <= step["lr_decay"] <= 1.0
        assert step["shrink"] in (0.1, 0.03)  # a choice moves to a neighbour only
        assert step != start
    # Steps are local: in the log scale of lr, a factor of 10 is half the range (σ = 0.15),
    # and continuous values take many values, not a grid's.
    moved = [abs(math.log10(s["lr"] / 1e-3)) for s in steps if s["lr"] != 1e-3]
    assert statistics.median(moved) < 0.5 and len(set(moved)) == len(moved)
    assert len({s["lr_decay"] for s in steps}) > 50
    assert reflect(1.1) == 0.9 and reflect(-0.1) == 0.1


def test_the_oracle_alternates_random_draws_and_steps_from_the_best(monkeypatch, tmp_path):
    import keras_tuner

    from tfdirectspec.tuning import local_search
    from tfdirectspec.tuning.oracle import recipe_first_oracle

    calls = []

    def recorded(hyperparameters, values, seed):
        calls.append(dict(values))
        return {**values, "alpha": round(values["alpha"] + 0.01 * (len(calls)), 6)}

    monkeypatch.setattr(local_search, "local_step", recorded)
    hps = keras_tuner.HyperParameters()
    hps.Float("alpha", 0.0, 1.0, default=0.5)
    oracle = recipe_first_oracle()(
        objective=keras_tuner.Objective("score", direction="max"),
        max_trials=6,
        seed=3,
        hyperparameters=hps,
    )
    oracle._set_project_dir(str(tmp_path), "oracle")
    scores = [0.1, 0.5, 0.2, 0.3, 0.9, 0.0]
    proposed = []
    for score in scores:
        trial = oracle.create_trial("test")
        proposed.append(trial.hyperparameters.values["alpha"])
        oracle.update_trial(trial.trial_id, {"score": score})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert proposed[0] == 0.5  # the recipe
    # Odd trials step from the best finished trial: the recipe for trial 1 (only it has
    # finished), trial 1 (score 0.5) for trial 3, trial 4 (0.9) for trial 5.
    assert [c["alpha"] for c in calls] == [proposed[0], proposed[1], proposed[4]]
    assert proposed[1] == round(proposed[0] + 0.01, 6)
    assert proposed[3] == round(proposed[1] + 0.02, 6)
    assert proposed[5] == round(proposed[4] + 0.03, 6)


# ---- the baselines in the tune: spaces, halving, auto --------------------------------------------


def test_baseline_spaces_span_what_the_issue_asks():
    ials = load_space(space_path("ials"))
    assert max(ials.params["dim"].values) == 1024 and min(ials.params["dim"].values) <= 64
    reg = ials.params["reg"]
    assert reg.kind == "log_uniform" and math.log10(reg.high / reg.low) >= 3
    assert "alpha" in ials.params
    ease = load_space(space_path("ease"))
    assert set(ease.params) == {"reg"}
    assert math.log10(ease.params["reg"].high / ease.params["reg"].low) == pytest.approx(4)
    for loss in ("ials", "ease"):  # the shipped-space round trip covers them too
        assert loss in losses_with_space()


def test_auto_tunes_the_baselines_first_cheapest_first():
    from tfdirectspec.commands.tune import resolve_losses

    auto = resolve_losses("auto")
    assert auto[:2] == ["ease", "ials"] and "directspec+" in auto and "bpr" in auto
    assert resolve_losses("directspec+,ials,ease") == ["ease", "ials", "directspec+"]


def test_successive_halving_keeps_the_better_half_down_to_two():
    from tfdirectspec.tuning.halving import next_loss, survivors

    losses = ["ease", "ials", "directspec+", "bpr", "directspec", "directau", "ssm"]
    scores = dict(zip(losses, [0.30, 0.31, 0.29, 0.20, 0.25, 0.22, 0.10], strict=True))
    trials = {loss: 0 for loss in losses}
    order = []
    for _ in range(14):
        loss, _ = next_loss(losses, trials, scores)
        order.append(loss)
        trials[loss] += 1
    assert order[:7] == losses  # round 0: every recipe, in order
    # round 1: the best 4 by validation (ials, ease, directspec+, directspec), in order
    assert order[7:11] == ["ease", "ials", "directspec+", "directspec"]
    # then the best two alternate
    assert order[11:] == ["ease", "ials", "ease"]
    assert survivors(losses, trials, scores)[0] == ["ease", "ials"]
    # mid-round, the share counts the losses still due in the round
    assert next_loss(losses, {**dict.fromkeys(losses, 1), "ease": 2}, scores) == ("ials", 3)
    # two losses: nothing is dropped, they alternate
    two = {"directspec+": 1, "bpr": 1}
    assert next_loss(["directspec+", "bpr"], two, {"bpr": 0.3, "directspec+": 0.1})[0] == (
        "directspec+"
    )


def test_tune_ranks_the_baselines_beside_the_losses(data_dir, tmp_path, capsys):
    pytest.importorskip("implicit")
    out = tmp_path / "tune"
    argv = ["tune", "--data-dir", str(data_dir), "--loss", "directspec+,ials,ease"]
    argv += ["--epochs", "3", "--eval-every", "1", "--valid-fraction", "0.2"]
    argv += ["--max-trials", "5", "--output", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader((out / "trials.tsv").open(), delimiter="\t"))
    assert [r["loss"] for r in rows[:3]] == ["ease", "ials", "directspec+"]
    assert len(rows) == 5 and {r["status"] for r in rows} <= {"completed", "stopped (patience)"}
    ranks = sorted(int(r["rank"]) for r in rows)
    assert ranks == [1, 2, 3, 4, 5]
    by_rank = sorted(rows, key=lambda r: int(r["rank"]))
    scores = [float(r["val_ndcg@20"]) for r in by_rank]
    assert scores == sorted(scores, reverse=True)
    # The baselines' rows carry their values; EASE one fit, iALS its best iteration.
    ease_row = next(r for r in rows if r["loss"] == "ease")
    assert ease_row["epochs_run"] == "1" and float(ease_row["reg"]) == 100.0
    ials_row = next(r for r in rows if r["loss"] == "ials")
    assert ials_row["dim"] == "256" and int(ials_row["best_epoch"]) >= 1
    summary = json.loads(printed[printed.index("{") :])
    assert summary["best_trial"] == by_rank[0]["trial"] and "ndcg@20" in summary["test"]
    refit = json.loads((out / "refit" / "metrics.json").read_text())
    assert refit["config"]["loss"] == summary["loss"]


def test_embedding_runs_record_time_to_best_and_throughput(data_dir, tiny_config):
    from tfdirectspec.training.trainer import train

    config = tiny_config(valid_fraction=0.2, epochs=2, eval_every=1)
    metrics = train(config, verbose=0).metrics
    steps = metrics["steps_per_epoch"]
    expected = steps * config.batch_size * metrics["epochs_run"] / metrics["train_seconds"]
    assert metrics["pairs_per_second"] == pytest.approx(expected)
    best = next(r for r in metrics["history"] if r["epoch"] == metrics["best_epoch"])
    assert metrics["time_to_best_seconds"] == best["wall_seconds"] > 0
