"""The zoo's results tables are generated from the result files, never edited by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_modules import load_pipeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def zoo_results():
    return load_pipeline("release/zoo_results")


def test_models_readme_is_the_generated_table(zoo_results):
    text = (ROOT / "models" / "README.md").read_text()
    assert zoo_results.table() in text
    assert zoo_results.unmeasured() in text


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
