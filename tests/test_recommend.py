"""``tfdirectspec recommend``: recommendations printed from an export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfdirectspec import cli
from tfdirectspec.data import from_pairs
from tfdirectspec.serving import ExportTables, export_tables

K = 4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A base path with two versions whose tables differ (so the chosen one shows)."""
    rng = np.random.default_rng(1)
    pairs = [(u * 10, int(i) + 100) for u in range(12) for i in rng.choice(15, 4, False)]
    data = from_pairs(pairs)
    target = tmp_path_factory.mktemp("rec") / "saved_models" / "m"
    for seed in (0, 1):
        r = np.random.default_rng(seed)
        tables = ExportTables(
            r.normal(size=(data.num_users, 6)).astype(np.float32),
            r.normal(size=(data.num_items, 6)).astype(np.float32),
            data.user_ids,
            data.item_ids,
            data.train,
        )
        export_tables(tables, target, k=K, warmup=False)
    return target


def _recommend(argv: list[str], capsys) -> dict:
    assert cli.main(["recommend", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_prints_the_latest_versions_top_k(model_dir, capsys):
    out = _recommend(["--model", str(model_dir), "--user", "30", "-k", "3"], capsys)
    assert out["model"] == str(model_dir / "2")
    served = tf.saved_model.load(str(model_dir / "2"))
    want = served.signatures["serving_default"](user_ids=tf.constant([30], tf.int64))
    (entry,) = out["users"]
    assert entry["user"] == 30 and entry["known_user"] is True
    assert entry["items"] == want["item_ids"].numpy()[0, :3].tolist()
    np.testing.assert_allclose(entry["scores"], want["scores"].numpy()[0, :3], rtol=1e-6)


def test_a_version_can_be_chosen(model_dir, capsys):
    v1 = _recommend(["--model", str(model_dir / "1"), "--user", "30"], capsys)
    v2 = _recommend(["--model", str(model_dir), "--user", "30"], capsys)
    assert v1["model"].endswith("/1") and v1["users"] != v2["users"]
    # -k defaults to 10, or the export's K when that is smaller.
    assert len(v1["users"][0]["items"]) == K


def test_table_output_and_unknown_user(model_dir, capsys):
    assert cli.main(["recommend", "--model", str(model_dir), "--user", "30", "77", "-k", "2"]) == 0
    text = capsys.readouterr().out
    assert "user 30\n" in text
    assert "user 77  (unknown user: most popular items)" in text
    assert text.count("\n     1  ") == 2 and text.count("\n     2  ") == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--user", "30", "-k", "5"], "exceeds the export's K=4"),
        (["--user", "abc"], "not an integer"),
        (["--user", "30", "-k", "0"], "positive"),
    ],
)
def test_bad_input(model_dir, capsys, argv, message):
    assert cli.main(["recommend", "--model", str(model_dir), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_model(tmp_path, capsys):
    assert cli.main(["recommend", "--model", str(tmp_path / "none"), "--user", "1"]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert cli.main(["recommend", "--model", str(tmp_path), "--user", "1"]) == 2
    assert "no SavedModel" in capsys.readouterr().err
