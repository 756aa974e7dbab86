"""The zoo's results tables are generated from the entries and result files, never by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_modules import load_pipeline
from zoo_files import finished_run, write_entry

from tfdirectspec.training.zoo import config_hash, resolve_entry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def zoo_results():
    return load_pipeline("release/zoo_results")


def test_models_readme_is_the_generated_readme(zoo_results):
    assert (ROOT / "models" / "README.md").read_text() == zoo_results.readme_text()


def test_the_top_readme_holds_the_generated_results_table(zoo_results):
    text = (ROOT / "README.md").read_text()
    assert f"<!-- results:start -->\n{zoo_results.table()}\n<!-- results:end -->" in text


def test_every_result_records_the_hash_of_its_config(zoo_results):
    for path, result in zoo_results.read_results():
        assert result["config_hash"] == config_hash(result["config"]), path.name


def test_removed_entries_have_no_file_and_a_stated_reason(zoo_results):
    removed = zoo_results.removed_entries()
    assert set(removed) == {"gowalla-mf-ease"}
    text = zoo_results.readme_text()
    for name, reason in removed.items():
        assert not (ROOT / "models" / f"{name}.toml").exists()
        assert "Removed entries" in text and name in text and reason in text


def test_stored_commands_match_the_entries_as_they_are(zoo_results):
    for path in sorted((ROOT / "models" / "results").glob("*.json")):
        result = json.loads(path.read_text())
        expected = zoo_results.reproduce_command(result["config"])
        if result.get("refit"):
            expected += " --refit"
        assert result["command"] == expected, path.name


def test_command_names_what_differs_from_the_entry(zoo_results):
    entry = (
        zoo_results.TrainConfig()
        .updated(zoo_results.zoo_defaults("gowalla", "lightgcn", "directspec+"), "zoo")
        .to_dict()
    )
    assert zoo_results.reproduce_command(entry) == (
        "tfdirectspec train --dataset gowalla --tower lightgcn --loss directspec+"
    )
    other = {**entry, "optimizer": "sgd", "lr": 12800.0, "time_budget": 18.0}
    command = zoo_results.reproduce_command(other)
    assert command.endswith("--optimizer sgd --lr 12800.0 --time-budget 18.0")


def _result(zoo_results, models: Path, entry: str, **changes) -> Path:
    """Collects a (fake) finished run of ``entry``'s config with ``changes``."""
    config = {**resolve_entry(models / f"{entry}.toml").to_dict(), **changes}
    run = finished_run(models.parent / "runs" / f"{entry}-{len(changes)}", config)
    return zoo_results.collect(run, entry, models)


@pytest.fixture
def zoo(tmp_path, zoo_results):
    """A zoo of a measured, a stale, a missing and an invalid entry, and a variant run."""
    models = tmp_path / "models"
    for name in ("a-current", "b-stale", "c-missing"):
        write_entry(models, name, epochs=3)
    write_entry(models, "d-invalid", epochs=3, group_size=8)  # BPR has no blocks
    _result(zoo_results, models, "a-current")
    _result(zoo_results, models, "a-current", epochs=5)  # a variant, an extra row
    _result(zoo_results, models, "b-stale", epochs=2)
    return models


def test_an_entry_is_current_stale_missing_or_invalid(zoo, zoo_results):
    states = {s.name: s for s in zoo_results.entry_states(zoo)}
    assert {n: s.status for n, s in states.items()} == {
        "a-current": "current",
        "b-stale": "stale",
        "c-missing": "missing",
        "d-invalid": "invalid",
    }
    assert states["a-current"].result.name == "a-current-e3.json"
    assert states["b-stale"].note == "epochs 2 (entry 3)"
    assert states["b-stale"].result.name == "b-stale-e2.json"
    assert "group_size applies to loss directspec+" in states["d-invalid"].note
    recorded = json.loads(states["b-stale"].result.read_text())["config_hash"]
    assert recorded != states["b-stale"].config_hash
    # The hash leaves the name out: the same config under another entry's name is not
    # that entry's measurement.
    assert states["b-stale"].config_hash == states["a-current"].config_hash


def test_a_refit_result_does_not_measure_its_entry(zoo, zoo_results):
    path = zoo / "results" / "a-current-e3.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "refit": True}))
    states = {s.name: s for s in zoo_results.entry_states(zoo)}
    assert states["a-current"].status == "stale"  # the 5-epoch variant is the closest


def test_the_readme_has_a_row_per_entry_the_other_runs_and_the_wall_time(zoo, zoo_results):
    text = zoo_results.write_readme(zoo).read_text()
    assert "| a-current | measured | 3 (3) | 0.2000 |" in text
    assert "| b-stale | stale: epochs 2 (entry 3) | 2 (2) |" in text
    assert "| c-missing | not measured | — |" in text
    assert "`tfdirectspec train --config models/c-missing.toml` |" in text
    assert "| d-invalid | invalid: group_size applies to loss directspec+, not bpr |" in text
    assert "| a-current-e5 | epochs 5 (entry 3) | 5 (5) |" in text.split("## Other runs")[1]
    assert (
        "Measured: 1 of 4 entries (1 stale, 1 not measured, 1 invalid); "
        "wall time of the measured entries: 1.0 min." in text
    )
    assert "Removed entries" not in text
    assert not list(zoo.rglob("*.tmp"))  # written through temporary files, renamed


def test_a_removed_entry_is_listed_with_its_reason_not_measured(zoo, zoo_results):
    (zoo / "removed").mkdir()
    (zoo / "removed" / "c-missing.md").write_text("superseded by a-current\n")
    states = {s.name: s.status for s in zoo_results.entry_states(zoo)}
    assert states["c-missing"] == "removed"
    text = zoo_results.readme_text(zoo)
    assert "| c-missing |" not in text
    assert "## Removed entries" in text and "- c-missing: superseded by a-current" in text
    assert "Measured: 1 of 3 entries" in text


def test_collect_records_the_hash_and_refresh_keeps_it_that_of_the_config(zoo, zoo_results):
    path = zoo / "results" / "b-stale-e2.json"
    result = json.loads(path.read_text())
    assert result["config_hash"] == config_hash(result["config"])
    older = {k: v for k, v in result.items() if k != "config_hash"}
    path.write_text(json.dumps(older, indent=2) + "\n")  # collected before hashes existed
    assert zoo_results.refresh_hashes(zoo) == [path]
    assert json.loads(path.read_text()) == result
    assert list(json.loads(path.read_text()))[-2:] == ["config_hash", "config"]
    path.write_text(json.dumps({**result, "config_hash": "0" * 64}, indent=2) + "\n")
    assert zoo_results.refresh_hashes(zoo) == [path]
    assert zoo_results.refresh_hashes(zoo) == []


def test_a_result_recorded_before_a_key_existed_stays_current(zoo, zoo_results):
    """A key added to the config later is at its default in older runs: not a change."""
    path = zoo / "results" / "a-current-e3.json"
    result = json.loads(path.read_text())
    config = {k: v for k, v in result["config"].items() if k != "calibrate_item_norms"}
    path.write_text(json.dumps({**result, "config_hash": "0" * 64, "config": config}))
    states = {s.name: s for s in zoo_results.entry_states(zoo)}
    assert states["a-current"].status == "current"


def test_the_top_table_is_one_row_per_model_and_a_column_per_dataset_and_tower(zoo, zoo_results):
    write_entry(zoo, "gowalla-lightgcn-a-current", dataset="gowalla", tower="lightgcn")
    lines = zoo_results.table(zoo).splitlines()
    assert lines[0] == "| model | citeulike MF | gowalla LightGCN |"
    rows = {line.split(" | ")[0][2:]: line for line in lines[2:]}
    # The measured entry shows its test NDCG@20 / Recall@20 (not the 5-epoch variant's),
    # the stale and missing ones "not measured", a (dataset, tower) without the entry "—";
    # the LightGCN entry shares the row of its model name.
    assert rows["a-current"] == "| a-current | 0.2000 / 0.3000 | not measured |"
    assert rows["b-stale"] == "| b-stale | not measured | — |"
    assert rows["c-missing"] == "| c-missing | not measured | — |"
    assert "d-invalid" not in rows  # an entry that does not resolve has no cell


def test_a_model_without_embeddings_has_no_effective_rank(zoo, zoo_results):
    """EASE^R records ``erank: {}``: its rows show "—" and the tables still build."""
    path = next((zoo / "results").glob("a-current-e3.json"))
    result = json.loads(path.read_text())
    path.write_text(json.dumps({**result, "erank": {}}))
    text = zoo_results.readme_text(zoo)
    assert "| a-current | measured | 3 (3) | 0.2000 |" in text
    assert "| — | 1.50 |" in text  # erank, then s/epoch
