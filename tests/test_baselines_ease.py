"""EASE^R (``--loss ease``): the closed form against a direct solve, block scoring, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from tiny_logs import write_tiny_log

import tfdirectspec.baselines.ease as ease_module
from tfdirectspec.baselines.ease import check_ease_fits, ease_item_table, ease_memory_bytes
from tfdirectspec.cli import main
from tfdirectspec.evaluation import full_ranking_metrics
from tfdirectspec.parameters import ParameterError


def _direct_solve(X: np.ndarray, reg: float) -> np.ndarray:
    """min ‖X − XB‖² + λ‖B‖² s.t. diag(B) = 0, one constrained least squares per column.

    Column j may only use the other columns: b_{-j,j} = (X_{-j}ᵀX_{-j} + λI)⁻¹ X_{-j}ᵀ x_j.
    """
    n = X.shape[1]
    B = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        A = X[:, others]
        B[others, j] = np.linalg.solve(A.T @ A + reg * np.eye(n - 1), A.T @ X[:, j])
    return B


def test_two_items_always_together_by_hand():
    # n users who all have both items: G = [[n+λ, n], [n, n+λ]], so b_12 = b_21 = n/(n+λ).
    n, reg = 4, 2.0
    X = sp.csr_matrix(np.ones((n, 2), np.float32))
    B = ease_item_table(X, reg, dtype=np.float64).T
    assert B == pytest.approx(np.array([[0.0, n / (n + reg)], [n / (n + reg), 0.0]]))


@pytest.mark.parametrize("reg", [0.5, 3.0, 50.0])
@pytest.mark.parametrize("mirror_rows", [1024, 4])  # one block, and blocks of 4 rows
def test_closed_form_equals_the_per_column_constrained_solve(reg, mirror_rows, monkeypatch):
    monkeypatch.setattr(ease_module, "_MIRROR_ROWS", mirror_rows)
    rng = np.random.default_rng(int(reg * 10))
    X = (rng.random((60, 15)) < 0.25).astype(np.float64)
    direct = _direct_solve(X, reg)
    B64 = ease_item_table(sp.csr_matrix(X), reg, dtype=np.float64).T
    np.testing.assert_allclose(B64, direct, atol=1e-10)
    assert np.all(np.diag(B64) == 0)
    # float32, the default: the same matrix to float32 precision.
    B32 = ease_item_table(sp.csr_matrix(X), reg).T
    assert B32.dtype == np.float32
    np.testing.assert_allclose(B32, direct, atol=2e-5)

    # The objective is at its minimum: a small move of any off-diagonal entry raises it.
    def objective(B):
        return np.sum((X - X @ B) ** 2) + reg * np.sum(B**2)

    bumped = direct.copy()
    bumped[0, 1] += 1e-3
    assert objective(direct) < objective(bumped)


def test_block_scoring_equals_dense_scores_and_never_ranks_all_users_at_once():
    rng = np.random.default_rng(1)
    X = sp.csr_matrix((rng.random((90, 30)) < 0.2).astype(np.float32))
    test = sp.csr_matrix((rng.random((90, 30)) < 0.1).astype(np.float32))
    table = ease_item_table(X, 5.0)
    # The dense route: user table = X itself (fine at this size), item table = Bᵀ.
    dense = full_ranking_metrics(X.toarray(), table, test, exclude=X, ks=(5, 10))
    # Blocks of 3 users (max_block_scores = 3 · 30): X_block · B, 30 blocks.
    blocked = full_ranking_metrics(X, table, test, exclude=X, ks=(5, 10), max_block_scores=90)
    for key, value in dense.items():
        assert blocked[key] == pytest.approx(value, abs=1e-12), key


def test_a_catalog_that_does_not_fit_is_one_line_naming_the_limit():
    X = sp.csr_matrix((5, 50_000), dtype=np.float32)
    with pytest.raises(ParameterError) as raised:
        check_ease_fits(X, available=8 * 10**9)
    message = raised.value.render(lambda name: "--" + name)
    assert message.startswith("--loss ease needs") and "50,000 items" in message
    assert "\n" not in message and "GB" in message
    assert ease_memory_bytes(50_000, 0) == 3 * 50_000**2 * 4
    assert check_ease_fits(sp.csr_matrix((5, 100), dtype=np.float32), available=10**9) > 0


def _tiny(tmp_path):
    return write_tiny_log(tmp_path)


def test_cli_train_with_refit_writes_a_run_with_test_metrics(tmp_path, capsys):
    data, out = _tiny(tmp_path), tmp_path / "run"
    argv = ["train", "--data-dir", str(data), "--loss", "ease", "--reg", "20"]
    argv += ["--valid-fraction", "0.2", "--refit", "--output", str(out), "--verbose", "0"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 < metrics["test"]["ndcg@20"] <= 1 and 0 < metrics["test"]["recall@20"] <= 1
    assert metrics["selection"]["best_epoch"] == 1 and "ndcg@20" in metrics["selection"]["valid"]
    assert metrics["refit"]["epochs"] == 1 and metrics["data"]["valid"] == 0
    assert metrics["config"]["loss"] == "ease" and metrics["config"]["reg"] == 20.0
    assert metrics["time_to_best_seconds"] > 0 and metrics["pairs_per_second"] > 0
    for name in ("config.json", "model.keras", "id_maps.npz", "exclusions.npz"):
        assert (out / name).is_file()
    capsys.readouterr()
    # The model has no embedding tables: export says so in one line.
    assert main(["export", str(out), "--to", str(tmp_path / "sm"), "--no-warmup"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no embedding tables" in err and "\n" not in err
    assert not (tmp_path / "sm").exists()


def test_cli_refuses_a_catalog_too_large_before_writing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ease_module, "available_memory_bytes", lambda: 1000)
    data, out = _tiny(tmp_path), tmp_path / "run"
    argv = ["train", "--data-dir", str(data), "--loss", "ease", "--output", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tfdirectspec: error: --loss ease needs") and "\n" not in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize(
    "extra,flag",
    [(["--reg", "0"], "--reg"), (["--tower", "lightgcn"], "--tower")],
)
def test_bad_ease_flags_are_one_line_naming_the_flag(tmp_path, capsys, extra, flag):
    data, out = _tiny(tmp_path), tmp_path / "run"
    assert (
        main(["train", "--data-dir", str(data), "--loss", "ease", *extra, "--output", str(out)])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert flag in err and "\n" not in err and not out.exists()
