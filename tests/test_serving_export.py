"""``tfdirectspec export``: TF Serving layout, signatures, parity with the model, zoo exports."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from float_bounds import dot_error_bound
from pipeline_modules import load_pipeline

from tfdirectspec import cli
from tfdirectspec.data import from_pairs
from tfdirectspec.evaluation import full_ranking_metrics
from tfdirectspec.serving import SIGNATURES, ExportTables, export_tables, read_info
from tfdirectspec.serving.export import tables_from_run
from tfdirectspec.training.config import TrainConfig
from tfdirectspec.training.run_dir import Run
from tfdirectspec.training.trainer import load_data

K = 5
REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "saved_models"
#: Zoo exports that must ship.
REQUIRED_ZOO = (
    "citeulike-mf-directspec-plus",
    "citeulike-lightgcn-directspec-plus",
    "citeulike-mf-bpr",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny finished run (integer ids, a validation split)."""
    rng = np.random.default_rng(3)
    root = tmp_path_factory.mktemp("export_run")
    data = root / "data"
    data.mkdir()
    users, items = 50, 40
    train = {(u * 3 + 1, int(i) * 5) for u in range(users) for i in rng.choice(items, 7, False)}
    test = {(u * 3 + 1, int(rng.integers(items)) * 5) for u in range(users)} - train
    for name, pairs in (("train", train), ("test", test)):
        (data / f"{name}.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in sorted(pairs)))
    out = root / "run"
    argv = ["train", "--data-dir", str(data), "--epochs", "2", "--batch-size", "16"]
    argv += ["--dim", "8", "--lr", "2.0", "--shrink", "0.3", "--valid-fraction", "0.2"]
    argv += ["--eval-every", "1", "--ks", "5", "--output", str(out), "--verbose", "0"]
    assert cli.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("served") / "saved_models" / "tiny"
    assert cli.main(["export", str(run_dir), "--to", str(target), "--k", str(K)]) == 0
    return target / "1"


def _saved_model_cli() -> list[str]:
    script = Path(sys.executable).with_name("saved_model_cli")
    if script.is_file():
        return [str(script)]
    found = shutil.which("saved_model_cli")
    if found is None:
        pytest.skip("saved_model_cli is not installed")
    return [found]


@pytest.mark.slow
def test_saved_model_cli_lists_the_signatures(exported):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    shown = subprocess.run(
        [*_saved_model_cli(), "show", "--dir", str(exported), "--all"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    blocks = dict(re.findall(r"signature_def\['(\w+)'\]:(.*?)(?=signature_def\[|\Z)", shown, re.S))
    assert {"serving_default", "user_embeddings", "item_embeddings", "score"} <= set(blocks)
    assert "recommend_for_items" in blocks

    def tensors(block: str, kind: str) -> dict[str, tuple[str, str]]:
        part = block.split("The given SavedModel SignatureDef contains the following output")
        text = part[0] if kind == "inputs" else part[1]
        return {
            name: (dtype, shape)
            for name, dtype, shape in re.findall(
                r"\['(\w+)'\] tensor_info:\s*dtype: (\w+)\s*shape: (\([^)]*\))", text
            )
        }

    ids = ("DT_INT64", "(-1)")
    assert tensors(blocks["serving_default"], "inputs") == {"user_ids": ids}
    assert tensors(blocks["serving_default"], "outputs") == {
        "item_ids": ("DT_INT64", f"(-1, {K})"),
        "scores": ("DT_FLOAT", f"(-1, {K})"),
        "known_user": ("DT_BOOL", "(-1)"),
    }
    assert tensors(blocks["user_embeddings"], "inputs") == {"user_ids": ids}
    assert tensors(blocks["user_embeddings"], "outputs") == {
        "embeddings": ("DT_FLOAT", "(-1, 8)"),
        "known_user": ("DT_BOOL", "(-1)"),
    }
    assert tensors(blocks["item_embeddings"], "inputs") == {"item_ids": ids}
    assert tensors(blocks["item_embeddings"], "outputs") == {
        "embeddings": ("DT_FLOAT", "(-1, 8)"),
        "known_item": ("DT_BOOL", "(-1)"),
    }
    assert tensors(blocks["score"], "inputs") == {"user_ids": ids, "item_ids": ids}
    assert tensors(blocks["score"], "outputs") == {
        "scores": ("DT_FLOAT", "(-1)"),
        "known_user": ("DT_BOOL", "(-1)"),
        "known_item": ("DT_BOOL", "(-1)"),
    }
    assert tensors(blocks["recommend_for_items"], "inputs") == {
        "item_ids": ("DT_INT64", "(-1, -1)")
    }
    assert tensors(blocks["recommend_for_items"], "outputs") == {
        "item_ids": ("DT_INT64", f"(-1, {K})"),
        "scores": ("DT_FLOAT", f"(-1, {K})"),
        "known_items": ("DT_INT32", "(-1)"),
    }


def test_recommend_for_items_folds_in_a_new_user(run_dir, exported):
    from tfdirectspec.serving.fold_in import fold_in_vectors

    served = tf.saved_model.load(str(exported))
    data = load_data(TrainConfig().updated(Run.open(run_dir).metrics()["config"], "metrics.json"))
    _, items = Run.open(run_dir).load_model().tables()
    given = data.train[3].indices  # a trained user's items, padded in the second row
    pad = np.full(len(given), -7, dtype=np.int64)  # -7: no such item
    rows = np.stack([data.item_ids[given], np.concatenate([data.item_ids[given[:2]], pad[2:]])])
    out = served.signatures["recommend_for_items"](item_ids=tf.constant(rows))
    assert out["known_items"].numpy().tolist() == [len(given), 2]
    # By hand: the mean of the items' unit rows, the given items masked, the top K.
    vector = fold_in_vectors(items, tf.constant(given[None]), tf.ones([1, len(given)], tf.bool))
    scores = tf.matmul(vector, items, transpose_b=True).numpy()[0]
    scores[given] = -np.inf
    want = np.argsort(-scores, kind="stable")[:K]
    assert out["item_ids"].numpy()[0].tolist() == data.item_ids[want].tolist()
    np.testing.assert_allclose(out["scores"].numpy()[0], scores[want], rtol=1e-5)
    assert not np.isin(out["item_ids"].numpy()[1], data.item_ids[given[:2]]).any()
    # No known item: the most popular items, as for an unknown user.
    none = served.signatures["recommend_for_items"](item_ids=tf.constant([[-1, -2]], tf.int64))
    popular = served.signatures["serving_default"](user_ids=tf.constant([10**12], tf.int64))
    assert none["known_items"].numpy().tolist() == [0]
    assert none["item_ids"].numpy().tolist() == popular["item_ids"].numpy().tolist()


def test_loaded_export_matches_the_in_memory_model(run_dir, exported):
    model = Run.open(run_dir).load_model()
    config = TrainConfig().updated(Run.open(run_dir).metrics()["config"], "metrics.json")
    data = load_data(config)
    assert data.valid.nnz > 0
    users, items = model.tables()
    rows = np.array([0, 7, 3, 49, 12, 7], dtype=np.int64)  # a batch, with a repeat
    # In memory: score all items, mask train and validation items, take the top K.
    scores = tf.matmul(tf.gather(users, rows), items, transpose_b=True).numpy()
    seen = (data.train + data.valid)[rows].toarray() > 0
    scores[seen] = -np.inf
    want_scores, want_index = tf.math.top_k(scores, k=K)

    served = tf.saved_model.load(str(exported))
    out = served.signatures["serving_default"](user_ids=tf.constant(data.user_ids[rows]))
    np.testing.assert_array_equal(out["item_ids"].numpy(), data.item_ids[want_index.numpy()])
    np.testing.assert_array_equal(out["scores"].numpy(), want_scores.numpy())
    assert out["known_user"].numpy().all()
    assert not np.isin(out["item_ids"].numpy()[0], data.item_ids[seen[0]]).any()

    emb = served.signatures["user_embeddings"](user_ids=tf.constant(data.user_ids[rows]))
    np.testing.assert_array_equal(emb["embeddings"].numpy(), tf.gather(users, rows).numpy())
    item_emb = served.signatures["item_embeddings"](item_ids=tf.constant(data.item_ids))
    np.testing.assert_array_equal(item_emb["embeddings"].numpy(), items.numpy())
    pair = served.signatures["score"](
        user_ids=tf.constant(data.user_ids[rows]),
        item_ids=tf.constant(data.item_ids[want_index.numpy()[:, 0]]),
    )
    # The pair signature sums its own float32 products: equal within a dot product's rounding.
    chosen = want_index.numpy()[:, 0]
    bound = np.diag(dot_error_bound(tf.gather(users, rows).numpy(), items.numpy()[chosen]))
    # Two rounded sums of the same products differ by at most twice the bound.
    gap = np.abs(pair["scores"].numpy() - want_scores.numpy()[:, 0])
    assert np.all(gap <= 2 * bound), (gap, bound)
    # Sparse exclusions: nothing of users × items size is stored.
    checkpoint = str(exported / "variables" / "variables")
    shapes = [tuple(shape) for _, shape in tf.train.list_variables(checkpoint)]
    assert (data.num_items, 8) in shapes
    assert (data.num_users, data.num_items) not in shapes


def test_unknown_ids_get_defined_answers(run_dir, exported):
    served = tf.saved_model.load(str(exported))
    data = load_data(TrainConfig().updated(Run.open(run_dir).metrics()["config"], "metrics.json"))
    known_user, unknown = int(data.user_ids[0]), 10**12
    out = served.signatures["serving_default"](
        user_ids=tf.constant([unknown, known_user], tf.int64)
    )
    assert out["known_user"].numpy().tolist() == [False, True]
    popularity = np.asarray((data.train + data.valid).sum(axis=0)).ravel()
    top = np.argsort(-popularity, kind="stable")[:K]
    assert out["item_ids"].numpy()[0].tolist() == data.item_ids[top].tolist()
    assert out["scores"].numpy()[0].tolist() == popularity[top].tolist()

    emb = served.signatures["user_embeddings"](user_ids=tf.constant([unknown], tf.int64))
    assert not emb["known_user"].numpy()[0] and not emb["embeddings"].numpy().any()
    pair = served.signatures["score"](
        user_ids=tf.constant([known_user, known_user, unknown], tf.int64),
        item_ids=tf.constant([int(data.item_ids[0]), -5, int(data.item_ids[0])], tf.int64),
    )
    scores = pair["scores"].numpy()
    assert np.isfinite(scores[0]) and np.isnan(scores[1]) and np.isnan(scores[2])
    assert pair["known_item"].numpy().tolist() == [True, False, True]
    assert pair["known_user"].numpy().tolist() == [True, True, False]
    with pytest.raises(tf.errors.InvalidArgumentError, match="same length"):
        served.signatures["score"](
            user_ids=tf.constant([known_user], tf.int64), item_ids=tf.constant([1, 2], tf.int64)
        )


def test_second_export_is_version_2_and_leaves_1_untouched(run_dir, tmp_path):
    target = tmp_path / "saved_models" / "m"
    assert cli.main(["export", str(run_dir), "--to", str(target), "--k", "3"]) == 0

    def digest(folder: Path) -> dict[str, str]:
        return {
            str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    before = digest(target / "1")
    assert cli.main(["export", str(run_dir), "--to", str(target), "--k", "3"]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["1", "2"]  # no staging left behind
    assert digest(target / "1") == before
    assert read_info(target / "2")["k"] == 3
    config = (tmp_path / "saved_models" / "models.config").read_text()
    assert 'name: "m"' in config and 'base_path: "/models/m"' in config


def test_warmup_requests_parse_and_are_accepted(exported):
    pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")
    from tfdirectspec.serving.warmup import read_warmup_requests

    logs = read_warmup_requests(exported / "assets.extra" / "tf_serving_warmup_requests")
    served = tf.saved_model.load(str(exported))
    signatures = set()
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "tiny"
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        outputs = served.signatures[request.model_spec.signature_name](**inputs)
        assert outputs
        signatures.add(request.model_spec.signature_name)
    assert signatures == set(SIGNATURES)


def test_string_ids_round_trip(tmp_path):
    data = from_pairs([["amy", "x"], ["amy", "y"], ["bob", "y"], ["bob", "z"], ["cy", "x"]])
    rng = np.random.default_rng(0)
    users = rng.normal(size=(3, 4)).astype(np.float32)
    items = rng.normal(size=(3, 4)).astype(np.float32)
    version = export_tables(
        ExportTables(users, items, data.user_ids, data.item_ids, data.train),
        tmp_path / "s",
        k=1,
    )
    served = tf.saved_model.load(str(version))
    warmup = version / "assets.extra" / "tf_serving_warmup_requests"
    if warmup.exists():  # tensorflow-serving-api installed: string requests replay too
        from tfdirectspec.serving.warmup import read_warmup_requests

        for log in read_warmup_requests(warmup):
            request = log.predict_log.request
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            served.signatures[request.model_spec.signature_name](**inputs)
    out = served.signatures["serving_default"](user_ids=tf.constant(["bob", "cy", "zed"]))
    assert out["item_ids"].dtype == tf.string
    assert out["item_ids"].numpy()[0].tolist() == [b"x"]  # bob saw y and z
    assert out["known_user"].numpy().tolist() == [True, True, False]
    assert out["item_ids"].numpy()[2].tolist() == [b"x"]  # x and y tie at 2: lower index wins


def test_bad_input_fails_cleanly(run_dir, tmp_path, capsys):
    def fails(argv: list[str], message: str) -> None:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err

    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    target = tmp_path / "out" / "m"
    fails(["export", str(not_a_run), "--to", str(target)], "not a finished run")
    fails(["export", str(tmp_path / "missing"), "--to", str(target)], "no such run directory")
    fails(["export", str(run_dir), "--to", str(target), "--k", "41"], "exceeds the number of items")
    fails(["export", str(run_dir), "--to", str(target), "--k", "0"], "positive")
    assert not (tmp_path / "out").exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    fails(["export", str(run_dir), "--to", str(a_file)], "not a directory")
    assert a_file.read_text() == "x"


def _zoo_cards() -> list[Path]:
    return sorted(ZOO.glob("*/model_card.json"))


def test_zoo_ships_the_required_models():
    names = {card.parent.name for card in _zoo_cards()}
    assert set(REQUIRED_ZOO) <= names
    for card in _zoo_cards():
        size = sum(p.stat().st_size for p in card.parent.rglob("*") if p.is_file())
        assert size < 10 * 2**20, f"{card.parent.name} is {size} bytes"
        assert (card.parent / "MODEL_CARD.md").is_file()
    config = (ZOO / "models.config").read_text()
    assert all(f'name: "{name}"' in config for name in names)


def test_zoo_cards_render_as_shipped():
    """Each MODEL_CARD.md is its model_card.json rendered by the release tooling's helper."""
    cards = load_pipeline("release/_model_card")
    for card in _zoo_cards():
        record = json.loads(card.read_text())
        assert cards.render_markdown(record) == (card.parent / "MODEL_CARD.md").read_text()
        for command in record["commands"]:  # the scripts it names exist
            for script in re.findall(r"pipelines/\S+\.py", command):
                assert (REPO / script).is_file(), command


def test_zoo_warmup_requests_name_their_model():
    pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")
    from tfdirectspec.serving.warmup import read_warmup_requests

    for card in _zoo_cards():
        version = json.loads(card.read_text())["export"]["version"]
        warmup = card.parent / str(version) / "assets.extra" / "tf_serving_warmup_requests"
        names = {log.predict_log.request.model_spec.name for log in read_warmup_requests(warmup)}
        assert names == {card.parent.name}


@pytest.mark.parametrize("card_path", _zoo_cards(), ids=lambda p: p.parent.name)
def test_zoo_model_reevaluates_to_its_card(card_path):
    card = json.loads(card_path.read_text())
    version = card_path.parent / str(card["export"]["version"])
    served = tf.saved_model.load(str(version))
    config = TrainConfig().updated(card["config"], str(card_path))
    data = load_data(config)
    # Read the tables back the way a client would: through the signatures.
    users = served.signatures["user_embeddings"](user_ids=tf.constant(data.user_ids))
    items = served.signatures["item_embeddings"](item_ids=tf.constant(data.item_ids))
    assert users["known_user"].numpy().all() and items["known_item"].numpy().all()
    exclude = [data.train, data.valid] if data.valid.nnz else [data.train]
    metrics = full_ranking_metrics(
        users["embeddings"], items["embeddings"], data.test, exclude=exclude, ks=config.ks
    )
    for name, value in card["metrics"]["test"].items():
        assert abs(metrics[name] - value) <= 1e-4, (name, metrics[name], value)


@pytest.mark.slow
def test_lightgcn_export_holds_the_propagated_tables(run_dir, tmp_path):
    config = Run.open(run_dir).metrics()["config"]
    out = tmp_path / "lightgcn"
    argv = ["train", "--data-dir", config["data_dir"], "--tower", "lightgcn", "--epochs", "1"]
    argv += ["--batch-size", "16", "--dim", "8", "--lr", "2.0", "--shrink", "0.3"]
    argv += ["--ks", "5", "--output", str(out), "--verbose", "0"]
    assert cli.main(argv) == 0
    tables, _ = tables_from_run(out)
    version = export_tables(tables, tmp_path / "served", k=K, warmup=False)
    served = tf.saved_model.load(str(version))
    data = load_data(TrainConfig().updated(Run.open(out).metrics()["config"], "metrics.json"))
    users = served.signatures["user_embeddings"](user_ids=tf.constant(data.user_ids))
    items = served.signatures["item_embeddings"](item_ids=tf.constant(data.item_ids))
    ego_users, _ = Run.open(out).load_model().tower.ego_tables()
    assert not np.allclose(users["embeddings"].numpy(), ego_users.numpy())
    metrics = full_ranking_metrics(
        users["embeddings"], items["embeddings"], data.test, exclude=data.train, ks=(K,)
    )
    for name, value in Run.open(out).metrics()["test"].items():
        assert abs(metrics[name] - value) <= 1e-6, name


def test_tables_from_run_rejects_unfinished_runs(tmp_path):
    from tfdirectspec.errors import InputError

    with pytest.raises(InputError, match="not a finished run"):
        tables_from_run(tmp_path)


@pytest.mark.parametrize("items, k, block", [(1, 1, 1), (10, 3, 3), (37, 5, 8), (64, 8, 16)])
def test_blocked_top_k_is_plain_top_k(items, k, block):
    from tfdirectspec.serving.module import blocked_top_k

    rng = np.random.default_rng(items)
    # Few distinct values: many ties; some -inf (excluded items), whole -inf rows too.
    scores = rng.integers(0, 4, (6, items)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[0] = -np.inf
    want_values, want_index = tf.math.top_k(tf.constant(scores), k)
    values, index = blocked_top_k(tf.constant(scores), k, block)
    np.testing.assert_array_equal(index.numpy(), want_index.numpy())
    np.testing.assert_array_equal(values.numpy(), want_values.numpy())


def test_blocked_serving_equals_brute_force():
    import scipy.sparse as sp

    from tfdirectspec.serving import build_module

    rng = np.random.default_rng(0)
    users, items, k = 7, 50, 6
    # Integer-valued vectors: exact float scores with many ties.
    user_table = rng.integers(-2, 3, (users, 3)).astype(np.float32)
    item_table = rng.integers(-2, 3, (items, 3)).astype(np.float32)
    seen = sp.csr_matrix((rng.random((users, items)) < 0.2).astype(np.float32))
    tables = ExportTables(
        user_table, item_table, np.arange(users) + 100, np.arange(items) + 1000, seen
    )
    blocked = build_module(tables, k, top_k_block=8)  # 50 items ≥ 4 blocks: 7, the last padded
    plain = build_module(tables, k, top_k_block=items)
    assert blocked.top_k_block == 8 and plain.top_k_block == items
    request = tf.constant(np.r_[np.arange(users) + 100, 5], tf.int64)  # 5: unknown user
    got, want = blocked.serving_default(request), plain.serving_default(request)
    for key in ("item_ids", "scores", "known_user"):
        np.testing.assert_array_equal(got[key].numpy(), want[key].numpy())
    # Brute force by hand for the known users.
    scores = user_table @ item_table.T
    scores[seen.toarray() > 0] = -np.inf
    values, index = tf.math.top_k(tf.constant(scores), k)
    np.testing.assert_array_equal(got["item_ids"].numpy()[:users], index.numpy() + 1000)
    np.testing.assert_array_equal(got["scores"].numpy()[:users], values.numpy())
