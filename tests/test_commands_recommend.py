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


# -- from a run directory, to files -------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny finished run (integer ids, a validation split) of two groups of users:
    users 0-19 take items 0-24, users 20-39 items 25-49 (8 train and 2 test items each)."""
    root = tmp_path_factory.mktemp("rec_run")
    rng = np.random.default_rng(0)
    train, test = [], []
    for user in range(40):
        items = rng.choice(25, 10, replace=False) + (0 if user < 20 else 25)
        train += [(user, i) for i in items[:8]]
        test += [(user, i) for i in items[8:]]
    (root / "data").mkdir()
    (root / "data" / "train.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in train))
    (root / "data" / "test.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in test))
    out = root / "run"
    argv = ["train", "--data-dir", str(root / "data"), "--epochs", "12", "--batch-size", "16"]
    argv += ["--dim", "8", "--lr", "2.0", "--shrink", "0.3", "--valid-fraction", "0.2"]
    argv += ["--eval-every", "4", "--ks", "5", "--output", str(out), "--verbose", "0"]
    assert cli.main(argv) == 0
    return out


def _read(path: Path) -> dict[str, list]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = pq.read_table(path) if path.suffix == ".parquet" else pcsv.read_csv(path)
    return table.to_pydict()


def _seen(run: Path) -> set[tuple[int, int]]:
    from tfdirectspec.training.run_dir import Run

    opened = Run.open(run)
    user_ids, item_ids = opened.id_maps()
    seen = opened.exclusions().tocoo()
    return {(int(user_ids[u]), int(item_ids[i])) for u, i in zip(seen.row, seen.col, strict=True)}


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_all_writes_k_rows_per_user_without_seen_items(run_dir, tmp_path, capsys, suffix):
    output = tmp_path / f"recs{suffix}"
    argv = ["recommend", "--model", str(run_dir), "--all", "--k", "5", "--output", str(output)]
    assert cli.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["users"] == 40 and summary["rows"] == 200 and summary["format"] == suffix[1:]
    rows = _read(output)
    assert list(rows) == ["user_id", "rank", "item_id", "score"]
    users = rows["user_id"]
    assert sorted(set(users)) == list(range(40)) and all(users.count(u) == 5 for u in set(users))
    assert rows["rank"] == [1, 2, 3, 4, 5] * 40
    pairs = set(zip(users, rows["item_id"], strict=True))
    assert len(pairs) == 200 and not pairs & _seen(run_dir)  # valid items are seen too
    scores = np.asarray(rows["score"]).reshape(40, 5)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert not list(tmp_path.glob(".*partial"))


def test_run_recommend_matches_the_file(run_dir, tmp_path):
    from tfdirectspec.errors import InputError
    from tfdirectspec.training.run_dir import Run

    output = tmp_path / "recs.parquet"
    argv = ["recommend", "--model", str(run_dir), "--user", "7", "3", "--k", "4"]
    assert cli.main([*argv, "--output", str(output)]) == 0
    rows = Run.open(run_dir).recommend([7, 3], k=4)
    assert set(rows) == {"user_id", "rank", "item_id", "score"}
    assert all(isinstance(v, np.ndarray) for v in rows.values())
    written = _read(output)
    assert rows["user_id"].tolist() == written["user_id"] == [7] * 4 + [3] * 4
    assert rows["item_id"].tolist() == written["item_id"]
    np.testing.assert_allclose(rows["score"], written["score"], rtol=1e-6)
    with pytest.raises(InputError, match="unknown user id 99"):
        Run.open(run_dir).recommend([7, 99], k=4)


def test_users_file_equals_user_flag(run_dir, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("12\n\n5\n12\n")  # a blank line, a repeat
    by_file, by_flag = tmp_path / "a.csv", tmp_path / "b.csv"
    base = ["recommend", "--model", str(run_dir), "--k", "3"]
    assert cli.main([*base, "--users", str(users), "--output", str(by_file)]) == 0
    assert cli.main([*base, "--user", "12", "5", "12", "--output", str(by_flag)]) == 0
    assert by_file.read_text() == by_flag.read_text()
    assert _read(by_file)["user_id"] == [12] * 3 + [5] * 3 + [12] * 3


def test_tiny_blocks_give_identical_output(run_dir, tmp_path):
    import pyarrow.parquet as pq

    whole, blocks = tmp_path / "whole.parquet", tmp_path / "blocks.parquet"
    base = ["recommend", "--model", str(run_dir), "--all", "--k", "5", "--output"]
    assert cli.main([*base, str(whole)]) == 0
    assert cli.main([*base, str(blocks), "--block-size", "3"]) == 0
    a, b = pq.read_table(whole).to_pydict(), pq.read_table(blocks).to_pydict()
    # The same rows; a score may differ in its last bit (the matmul's blocking follows
    # the number of rows it multiplies).
    assert [a[c] for c in ("user_id", "rank", "item_id")] == [
        b[c] for c in ("user_id", "rank", "item_id")
    ]
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-6)
    assert pq.ParquetFile(whole).metadata.num_row_groups == 1
    assert pq.ParquetFile(blocks).metadata.num_row_groups == 14  # ⌈40 / 3⌉


def test_scoring_sub_blocks_give_identical_rows(run_dir):
    from tfdirectspec.serving.recommender import Recommender

    whole = Recommender.open(run_dir)
    tiny = Recommender.open(run_dir, max_block_scores=1)  # one user at a time
    assert tiny.rows_per_block == 1
    a, b = whole.rows(np.arange(40), 5), tiny.rows(np.arange(40), 5)
    for name in ("user_id", "rank", "item_id"):
        np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-6)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--user", "7", "99"], "--user: unknown user id 99"),
        (["--users", "USERS"], "users.txt:2: unknown user id 1234"),
        (["--users", "MISSING"], "--users"),
        (["--user", "x7"], "user id 'x7' is not an integer"),
        (["--all", "--output", "OUT.txt"], "--output"),
        (["--all", "--block-size", "0"], "--block-size must be positive"),
        (["--all", "--k", "51"], "--k"),
        (["--items", "3", "--output", "OUT"], "--output takes users"),
        (["--user", "7", "--fold-in", "ridge"], "--fold-in applies to --items"),
    ],
)
def test_bad_input_writes_nothing(run_dir, tmp_path, capsys, argv, message):
    output = tmp_path / "recs.parquet"
    users = tmp_path / "users.txt"
    users.write_text("7\n1234\n")
    values = {"USERS": str(users), "MISSING": str(tmp_path / "none.txt"), "OUT": str(output)}
    values["OUT.txt"] = str(tmp_path / "recs.txt")
    argv = [values.get(a, a) for a in argv]
    if "--output" not in argv:
        argv += ["--output", str(output)]
    assert cli.main(["recommend", "--model", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == [users]


def test_all_needs_output(run_dir, capsys):
    assert cli.main(["recommend", "--model", str(run_dir), "--all"]) == 2
    assert (
        capsys.readouterr().err.strip() == "tfdirectspec: error: --all writes a file: give --output"
    )


def test_an_existing_output_is_kept(run_dir, tmp_path, capsys):
    output = tmp_path / "recs.csv"
    output.write_text("mine\n")
    base = ["recommend", "--model", str(run_dir), "--user", "7", "--output", str(output)]
    assert cli.main(base) == 2
    assert "exists (use --overwrite" in capsys.readouterr().err
    assert output.read_text() == "mine\n"
    assert cli.main([*base, "--overwrite"]) == 0
    assert _read(output)["user_id"] == [7] * 10


def test_a_failure_mid_file_leaves_nothing(run_dir, tmp_path, monkeypatch):
    from tfdirectspec.serving.recommender import Recommender

    calls = []
    rows = Recommender.rows

    def failing(self, users, k):
        calls.append(len(users))
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return rows(self, users, k)

    monkeypatch.setattr(Recommender, "rows", failing)
    output = tmp_path / "recs.parquet"
    argv = ["recommend", "--model", str(run_dir), "--all", "--block-size", "10"]
    with pytest.raises(RuntimeError, match="disk on fire"):
        cli.main([*argv, "--output", str(output)])
    assert calls == [10, 10] and list(tmp_path.iterdir()) == []


def test_printed_from_a_run_unknown_user_gets_popular_items(run_dir, capsys):
    out = _recommend(["--model", str(run_dir), "--user", "7", "999", "-k", "3"], capsys)
    known, unknown = out["users"]
    assert known["known_user"] and not unknown["known_user"]
    from tfdirectspec.training.run_dir import Run

    rows = Run.open(run_dir).recommend([7], k=3)
    assert known["items"] == rows["item_id"].tolist()
    popularity = np.asarray(Run.open(run_dir).exclusions().sum(axis=0)).ravel()
    assert unknown["scores"] == sorted(popularity, reverse=True)[:3]


# -- a new user, folded in ------------------------------------------------------------------


def test_items_fold_in_from_a_run_and_its_export(run_dir, tmp_path, capsys):
    from tfdirectspec.training.run_dir import Run

    opened = Run.open(run_dir)
    user_ids, item_ids = opened.id_maps()
    train = opened.exclusions()
    given = [str(v) for v in item_ids[train[4].indices]]  # user 4's seen items
    from_run = _recommend(["--model", str(run_dir), "--items", *given, "-k", "5"], capsys)
    result = from_run["new_user"]
    assert len(result["items"]) == 5 and not set(result["items"]) & {int(v) for v in given}
    # Sensible: like the trained user 4, it gets items of its own group (0-24).
    trained = opened.recommend([user_ids[4]], k=5)["item_id"].tolist()
    in_group = [sum(i < 25 for i in items) for items in (result["items"], trained)]
    assert in_group[0] >= 4 and in_group[0] >= in_group[1] - 1, (result["items"], trained)
    # The export's signature folds in alike.
    target = tmp_path / "saved_models" / "m"
    assert cli.main(["export", str(run_dir), "--to", str(target), "--k", "5", "--no-warmup"]) == 0
    capsys.readouterr()
    from_export = _recommend(["--model", str(target), "--items", *given, "-k", "5"], capsys)
    assert from_export["new_user"]["items"] == result["items"]
    np.testing.assert_allclose(from_export["new_user"]["scores"], result["scores"], rtol=1e-5)
    ridge = _recommend(
        ["--model", str(run_dir), "--items", *given, "-k", "5", "--fold-in", "ridge"], capsys
    )
    assert len(ridge["new_user"]["items"]) == 5


@pytest.mark.parametrize("where", ["run", "export"])
def test_an_unknown_item_is_named(run_dir, model_dir, capsys, where):
    model, known = (run_dir, "3") if where == "run" else (model_dir, "100")
    assert cli.main(["recommend", "--model", str(model), "--items", known, "31337"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown item id 31337" in err and len(err.splitlines()) == 1, err


def test_string_ids_written_as_strings(tmp_path):
    import tfdirectspec as tfd
    from tfdirectspec.training.run_dir import Run
    from tfdirectspec.training.trainer import train

    rng = np.random.default_rng(2)
    pairs = [(f"u{u}", f"item-{int(i)}") for u in range(20) for i in rng.choice(30, 5, False)]
    data = from_pairs(pairs)
    config = tfd.TrainConfig(epochs=1, batch_size=16, dim=8, lr=2.0, shrink=0.3, ks=(5,))
    result = train(config, data=data, verbose=0)
    run = Run.create(tmp_path / "run")
    run.write_config(config)
    run.commit(result.model, result.metrics, result.data)
    output = tmp_path / "recs.parquet"
    argv = ["recommend", "--model", str(tmp_path / "run"), "--all", "--k", "3"]
    assert cli.main([*argv, "--output", str(output)]) == 0
    import pyarrow.parquet as pq

    table = pq.read_table(output)
    assert str(table.schema.field("user_id").type) == "string"
    rows = table.to_pydict()
    assert rows["user_id"][:3] == ["u0"] * 3
    assert not set(zip(rows["user_id"], rows["item_id"], strict=True)) & set(pairs)
