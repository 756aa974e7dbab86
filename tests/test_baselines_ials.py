"""iALS (``--loss ials``, the ``implicit`` library): the loss decreases, the CLI run, the export."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
from tiny_logs import write_tiny_log

from tfdirectspec.baselines.ials import IALS, ials_loss
from tfdirectspec.cli import main
from tfdirectspec.training.run_dir import Run

pytest.importorskip("implicit")


def _matrix(seed=0, users=60, items=40, density=0.15):
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((users, items)) < density).astype(np.float32))


def test_loss_matches_its_dense_definition():
    X = _matrix()
    rng = np.random.default_rng(1)
    U, V = rng.normal(size=(60, 3)), rng.normal(size=(40, 3))
    alpha, reg = 4.0, 0.3
    P = X.toarray()
    C = 1.0 + alpha * P
    dense = np.sum(C * (P - U @ V.T) ** 2) + reg * (np.sum(U**2) + np.sum(V**2))
    assert ials_loss(X, U, V, alpha, reg) == pytest.approx(dense, rel=1e-10)


@pytest.mark.parametrize("use_cg", [False, True])
def test_training_loss_decreases_over_iterations(use_cg):
    X = _matrix()
    model = IALS(factors=6, regularization=0.5, alpha=8.0, seed=0, use_cg=use_cg)
    losses = [model.step(X) for _ in range(8)]
    # Each half-step is a least-squares solve (exact; CG from the previous point).
    assert all(b <= a * (1 + 1e-6) for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < 0.8 * losses[0]


def test_same_seed_same_factors_and_the_seed_matters():
    X = _matrix()
    runs = []
    for seed in (3, 3, 4):
        model = IALS(factors=4, regularization=1.0, alpha=5.0, seed=seed)
        for _ in range(3):
            model.step(X, compute_loss=False)
        runs.append(model.user_factors.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def _tiny(tmp_path):
    return write_tiny_log(tmp_path, user_id=lambda u: 3 * u + 1, item_id=lambda i: 5 * i)


@pytest.fixture(scope="module")
def ials_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ials")
    data, out = _tiny(root), root / "run"
    argv = ["train", "--data-dir", str(data), "--loss", "ials", "--dim", "8", "--reg", "0.5"]
    argv += ["--alpha", "5", "--epochs", "6", "--eval-every", "1", "--valid-fraction", "0.2"]
    argv += ["--output", str(out), "--verbose", "0", "--ks", "5", "10"]
    assert main(argv) == 0
    return out


def test_cli_train_selects_the_iteration_on_validation_and_writes_test(ials_run):
    metrics = json.loads((ials_run / "metrics.json").read_text())
    assert 0 <= metrics["test"]["ndcg@10"] <= 1 and "recall@10" in metrics["test"]
    curve = [(r["epoch"], r["valid"]["ndcg@10"]) for r in metrics["history"]]
    assert [e for e, _ in curve] == list(range(1, metrics["epochs_run"] + 1))
    assert metrics["best_epoch"] == max(curve, key=lambda p: p[1])[0]
    assert metrics["valid"]["ndcg@10"] == max(v for _, v in curve)
    losses = [r["loss"] for r in metrics["history"]]
    assert losses == sorted(losses, reverse=True)
    assert metrics["config"]["dim"] == 8 and metrics["config"]["num_threads"] == 1
    assert metrics["time_to_best_seconds"] > 0 and metrics["pairs_per_second"] > 0
    assert set(metrics["erank"]) == {"user", "item", "all"}
    users, items = Run.open(ials_run).tables()
    assert users.shape == (40, 8) and items.shape[1] == 8


def test_export_round_trips_through_the_mf_signatures(ials_run, tmp_path):
    target = tmp_path / "saved_models" / "ials"
    argv = ["export", str(ials_run), "--to", str(target), "--k", "5", "--no-warmup"]
    assert main([*argv, "--no-models-config"]) == 0
    served = tf.saved_model.load(str(target / "1"))
    run = Run.open(ials_run)
    users, items = run.tables()
    user_ids, item_ids = run.id_maps()
    exclude = run.exclusions().toarray() > 0
    out = served.signatures["serving_default"](user_ids=tf.constant(user_ids))
    scores = users @ items.T
    scores[exclude] = -np.inf
    want = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(out["item_ids"].numpy(), item_ids[want])
    emb = served.signatures["user_embeddings"](user_ids=tf.constant(user_ids))
    np.testing.assert_array_equal(emb["embeddings"].numpy(), users)
    pair = served.signatures["score"](
        user_ids=tf.constant(user_ids[:3]), item_ids=tf.constant(item_ids[:3])
    )
    np.testing.assert_allclose(
        pair["scores"].numpy(), np.sum(users[:3] * items[:3], axis=1), rtol=1e-5
    )


def test_refit_trains_the_chosen_iterations_on_train_and_valid(tmp_path):
    data, out = _tiny(tmp_path), tmp_path / "run"
    argv = ["train", "--data-dir", str(data), "--loss", "ials", "--dim", "4", "--epochs", "4"]
    argv += ["--eval-every", "1", "--valid-fraction", "0.2", "--refit", "--output", str(out)]
    assert main([*argv, "--verbose", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["refit"]["epochs"] == metrics["selection"]["best_epoch"]
    assert metrics["epochs_run"] == metrics["selection"]["best_epoch"]
    assert metrics["data"]["valid"] == 0 and metrics["data"]["train"] == 280


def test_missing_implicit_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "implicit.cpu.als", None)  # import fails
    data, out = _tiny(tmp_path), tmp_path / "run"
    assert main(["train", "--data-dir", str(data), "--loss", "ials", "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tfdirectspec: error: --loss ials needs the implicit library")
    assert 'pip install "tfdirectspec[als]"' in err and "\n" not in err
    assert not out.exists()


def test_strategies_do_not_apply(tmp_path, capsys):
    data, out = _tiny(tmp_path), tmp_path / "run"
    argv = ["train", "--data-dir", str(data), "--loss", "ials", "--strategy", "mirrored"]
    assert main([*argv, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--strategy" in err and "\n" not in err and not out.exists()
