"""Tests of tfdirectspec.evaluation: full-ranking metrics and spectrum statistics.

``full_ranking_metrics`` is checked against a naive dense NumPy implementation written
straight from the definitions, and against keras-rs's ``RecallAtK`` and ``NDCG``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
from float_bounds import rank_one_erank_excess

from tfdirectspec.errors import InputError
from tfdirectspec.evaluation import (
    effective_rank,
    full_ranking_metrics,
    singular_values,
    spectrum_summary,
)
from tfdirectspec.evaluation.blocks import block_rows
from tfdirectspec.evaluation.sampled import confidence_half_width, sample_positions

NUM_USERS, NUM_ITEMS, DIM = 50, 80, 8


def naive_metrics(users, items, test, exclude, ks, extras=True) -> dict[str, float]:
    """The metrics from their definitions, with dense scores and a per-user loop."""
    scores = np.asarray(users, np.float64) @ np.asarray(items, np.float64).T
    test = test.toarray() != 0
    masked = np.zeros_like(test)
    for matrix in exclude:
        masked |= matrix.toarray() != 0
    scores[masked] = -np.inf
    sums: dict[str, float] = {}
    evaluated = 0
    for u in range(scores.shape[0]):
        n = int(test[u].sum())
        if n == 0:
            continue
        evaluated += 1
        # Stable descending order: ties go to the lower item id, as tf.math.top_k does.
        order = np.argsort(-scores[u], kind="stable")
        for k in ks:
            top = order[:k]
            hit = test[u, top] & np.isfinite(scores[u, top])
            hits = hit.sum()
            dcg = sum(1.0 / np.log2(r + 2) for r in range(k) if hit[r])
            idcg = sum(1.0 / np.log2(r + 2) for r in range(min(n, k)))
            values = {
                "recall": hits / n,
                "ndcg": dcg / idcg,
                "precision": hits / k,
                "hitrate": float(hits > 0),
            }
            if extras:
                values["recall_trunc"] = hits / min(n, k)
            for name, value in values.items():
                sums[f"{name}@{k}"] = sums.get(f"{name}@{k}", 0.0) + value
    out = {key: value / evaluated for key, value in sums.items()}
    out["users_evaluated"] = evaluated
    out["users_skipped"] = scores.shape[0] - evaluated
    return out


def exact_table(rng: np.random.Generator, rows: int) -> np.ndarray:
    """A float32 ``[rows, DIM]`` table whose scores are exact in any summation order.

    Entries are Gaussian-like multiples of 2⁻¹⁰ in [−1, 1]: a product of two is a multiple
    of 2⁻²⁰ of modulus at most 1, and a sum of ``DIM`` = 8 of them at most 8 = 2²³ · 2⁻²⁰,
    so float32's 24-bit significand holds every partial sum exactly. Scores, and so
    rankings and metrics, are then the same on every BLAS and in float64 (the reference),
    and exact ties (resolved to the lower item id) are the same everywhere too.
    """
    steps = np.clip(np.round(rng.standard_normal((rows, DIM)) * 256), -1024, 1024)
    return (steps / 1024).astype(np.float32)


def random_problem(seed: int = 0):
    """Random tables and train/valid/test CSR matrices with the awkward cases built in.

    Users 0-4 have no test item; users 5-9 have test items that are also train items
    (masked yet counted in |test_u|), user 5 only such items; user 10 has every test item
    duplicated in the CSR input.
    """
    rng = np.random.default_rng(seed)
    users, items = exact_table(rng, NUM_USERS), exact_table(rng, NUM_ITEMS)
    train = rng.random((NUM_USERS, NUM_ITEMS)) < 0.15
    valid = (rng.random((NUM_USERS, NUM_ITEMS)) < 0.05) & ~train
    test = (rng.random((NUM_USERS, NUM_ITEMS)) < 0.08) & ~train & ~valid
    test[:5] = False
    test[5] = False
    test[5, np.flatnonzero(train[5])[:3]] = True
    for u in range(6, 10):
        test[u, np.flatnonzero(train[u])[:2]] = True
    test[11, :] = False
    test[11, 0] = True  # a user with a single test item
    # Raw CSR arrays with user 10's entries listed twice and valued 2: must count once.
    indptr, indices, data = [0], [], []
    for u in range(NUM_USERS):
        cols = np.flatnonzero(test[u])
        if u == 10:
            cols = np.concatenate([cols, cols])
        indices.extend(cols)
        data.extend([2.0 if u == 10 else 1.0] * cols.size)
        indptr.append(len(indices))
    test_csr = sp.csr_matrix((data, indices, indptr), shape=test.shape)
    assert test_csr[10].nnz == 2 * test[10].sum() > 0
    return users, items, sp.csr_matrix(train), sp.csr_matrix(valid), test_csr


def assert_metrics_close(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key


@pytest.mark.parametrize("batch_size", [1, 7, 16, 50, 1024])
def test_matches_naive_implementation(batch_size):
    users, items, train, valid, test = random_problem()
    ks = (1, 5, 10, 80)  # K = 80 = all items: masked items enter the top K yet never hit
    got = full_ranking_metrics(
        users, items, test, exclude=[train, valid], ks=ks, batch_size=batch_size
    )
    want = naive_metrics(users, items, test, [train, valid], ks)
    assert got["users_skipped"] == 5 and got["users_evaluated"] == NUM_USERS - 5
    assert_metrics_close(got, want)


def test_single_exclude_matrix_no_extras_and_tensor_tables():
    users, items, train, _, test = random_problem(seed=1)
    want = naive_metrics(users, items, test, [train], (3, 20), extras=False)
    got_np = full_ranking_metrics(users, items, test, exclude=train, ks=(3, 20), extras=False)
    got_tf = full_ranking_metrics(
        tf.constant(users), tf.constant(items), test, exclude=train, ks=[3, 20], extras=False
    )
    assert_metrics_close(got_np, want)
    assert got_tf == got_np
    assert not any(key.startswith("recall_trunc") for key in got_np)


def test_no_exclusion_and_overlap_counts():
    users, items, train, _, test = random_problem(seed=2)
    assert_metrics_close(
        full_ranking_metrics(users, items, test, ks=(10,), batch_size=13),
        naive_metrics(users, items, test, [], (10,)),
    )
    # User 5's only test items are train items: masked, so recall 0 although counted.
    only_5 = sp.csr_matrix(sp.diags((np.arange(NUM_USERS) == 5).astype(float)) @ test)
    m = full_ranking_metrics(users, items, only_5, exclude=train, ks=(NUM_ITEMS,))
    assert m["users_evaluated"] == 1 and m["users_skipped"] == NUM_USERS - 1
    assert m[f"recall@{NUM_ITEMS}"] == 0.0 and m[f"hitrate@{NUM_ITEMS}"] == 0.0


def test_perfect_ranking():
    # Each user's vector is exactly its test item's: one hit at rank 1.
    rng = np.random.default_rng(3)
    items = np.eye(6, dtype=np.float32) + 0.01 * rng.random((6, 6), dtype=np.float32)
    users = np.eye(6, dtype=np.float32)[[2, 4, 0]]
    test = sp.csr_matrix((np.ones(3), ([0, 1, 2], [2, 4, 0])), shape=(3, 6))
    m = full_ranking_metrics(users, items, test, ks=(1, 3))
    assert m["recall@1"] == m["ndcg@1"] == m["precision@1"] == m["hitrate@1"] == 1.0
    assert m["precision@3"] == pytest.approx(1 / 3)


def test_k_larger_than_items_raises():
    users, items, train, _, test = random_problem()
    with pytest.raises(InputError, match=r"^ks 81 exceeds the number of items \(80\)$"):
        full_ranking_metrics(users, items, test, exclude=train, ks=(10, 81))
    with pytest.raises(InputError, match="^ks must be positive"):
        full_ranking_metrics(users, items, test, ks=(0,))


def test_bad_shapes_and_batch_size_raise():
    users, items, train, _, test = random_problem()
    with pytest.raises(InputError, match="test matrix"):
        full_ranking_metrics(users[:-1], items, test)
    with pytest.raises(InputError, match=r"exclude\[0\]"):
        full_ranking_metrics(users, items, test, exclude=train[:, :-1])
    with pytest.raises(InputError, match="widths"):
        full_ranking_metrics(users, items[:, :-1], test)
    with pytest.raises(InputError, match="batch_size"):
        full_ranking_metrics(users, items, test, batch_size=0)


def test_empty_test_set():
    users, items, train, _, _ = random_problem()
    m = full_ranking_metrics(users, items, sp.csr_matrix((NUM_USERS, NUM_ITEMS)), exclude=train)
    assert m["users_evaluated"] == 0 and m["users_skipped"] == NUM_USERS
    assert np.isnan(m["recall@10"])


def test_matches_keras_rs():
    """keras-rs RecallAtK and NDCG agree with ours when fed the right inputs.

    Definitions compared (keras_rs/src/metrics/{recall_at_k,ndcg,ranking_metric}.py):
    - RecallAtK = (relevant in top k) / (relevant in the list): ours when the list is all
      items and the labels are the test items.
    - NDCG uses gain 2^y − 1 (= 1 for binary labels), discount 1/log2(rank + 1) and IDCG
      from the top k of the ideally sorted labels, i.e. Σ_{r ≤ min(|test|, k)} 1/log2(r+1):
      the same normalisation as ours.
    Two differences in how the inputs are treated, which we work around:
    - keras-rs's `mask` sets masked labels to 0, so a test item that is also a train item
      would leave the denominator; we count it. So we do not pass the exclusions as a mask
      but give excluded items a score far below every other one (valid while each user
      has at least k unmasked items, true here).
    - keras-rs gives lists without any relevant item a weight in the mean (value 0); we
      skip those users. So only users with test items are fed to keras-rs.
    - keras-rs shuffles ties by default: shuffle_ties=False keeps index order like top_k.
    """
    keras_rs = pytest.importorskip("keras_rs")
    users, items, train, valid, test = random_problem(seed=4)
    exclude = (train + valid).toarray() != 0
    labels = (test.toarray() != 0).astype(np.float32)
    scores = users @ items.T
    scores[exclude] = -1e9
    keep = labels.sum(axis=1) > 0
    assert ((~exclude).sum(axis=1) >= 10).all()
    ours = full_ranking_metrics(users, items, test, exclude=[train, valid], ks=(5, 10))
    for k in (5, 10):
        recall = keras_rs.metrics.RecallAtK(k=k, shuffle_ties=False)
        ndcg = keras_rs.metrics.NDCG(k=k, shuffle_ties=False)
        recall.update_state(labels[keep], scores[keep])
        ndcg.update_state(labels[keep], scores[keep])
        assert float(recall.result()) == pytest.approx(ours[f"recall@{k}"], rel=1e-5)
        assert float(ndcg.result()) == pytest.approx(ours[f"ndcg@{k}"], rel=1e-5)

    # Without test/exclude overlap, keras-rs's own mask gives the same numbers.
    test_no_overlap = sp.csr_matrix(labels * ~exclude)
    no_overlap = test_no_overlap.toarray().astype(np.float32)
    keep = no_overlap.sum(axis=1) > 0
    ours = full_ranking_metrics(users, items, test_no_overlap, exclude=[train, valid], ks=(10,))
    recall = keras_rs.metrics.RecallAtK(k=10, shuffle_ties=False)
    recall.update_state(
        {"labels": no_overlap[keep], "mask": ~exclude[keep]}, (users @ items.T)[keep]
    )
    assert float(recall.result()) == pytest.approx(ours["recall@10"], rel=1e-5)


@pytest.mark.parametrize("max_block_scores", [1, NUM_ITEMS * 3, NUM_ITEMS * 7 + 5, 2**24])
def test_score_budget_bounds_the_block_and_keeps_the_metrics(max_block_scores):
    users, items, train, valid, test = random_problem(seed=8)
    rows = block_rows(NUM_ITEMS, 16, max_block_scores)
    assert 1 <= rows <= 16 and (rows == 1 or rows * NUM_ITEMS <= max_block_scores)
    got = full_ranking_metrics(
        users,
        items,
        test,
        exclude=[train, valid],
        ks=(1, 10, NUM_ITEMS),
        batch_size=16,
        max_block_scores=max_block_scores,
    )
    assert_metrics_close(got, naive_metrics(users, items, test, [train, valid], (1, 10, 80)))


def test_bad_score_budget_raises():
    users, items, _, _, test = random_problem()
    with pytest.raises(InputError, match="max_block_scores"):
        full_ranking_metrics(users, items, test, max_block_scores=0)


# --- sampled users --------------------------------------------------------------------


def _only_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``matrix`` with every row outside ``rows`` emptied."""
    keep = np.zeros(matrix.shape[0])
    keep[rows] = 1.0
    return sp.csr_matrix(sp.diags(keep) @ matrix)


def test_sample_is_seeded_and_its_means_are_those_of_the_sampled_users():
    users, items, train, valid, test = random_problem(seed=9)
    population = np.flatnonzero(np.diff(sp.csr_matrix(test).indptr) > 0)
    kwargs = dict(exclude=[train, valid], ks=(5, 10), sample_users=12)
    a = full_ranking_metrics(users, items, test, seed=3, **kwargs)
    assert a == full_ranking_metrics(users, items, test, seed=3, **kwargs)
    assert a != full_ranking_metrics(users, items, test, seed=4, **kwargs)
    assert a["users_sampled"] == 12 and a["users_evaluated"] == population.size == 45
    assert a["users_skipped"] == NUM_USERS - 45
    chosen = population[sample_positions(population.size, 12, seed=3)]
    want = naive_metrics(users, items, _only_rows(test, chosen), [train, valid], (5, 10))
    for key, value in want.items():
        if "@" in key:
            assert a[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
            assert a[f"{key}_ci95"] >= 0
    assert a["ndcg@10_ci95"] > 0


def test_sample_of_everyone_is_the_exact_evaluation():
    users, items, train, _, test = random_problem(seed=10)
    exact = full_ranking_metrics(users, items, test, exclude=train, ks=(5,))
    for n in (45, 46, 10**6):
        m = full_ranking_metrics(users, items, test, exclude=train, ks=(5,), sample_users=n)
        assert m["users_sampled"] == 45
        assert {k: v for k, v in m.items() if k in exact} == exact
        assert {v for k, v in m.items() if k.endswith("_ci95")} == {0.0}
        assert set(m) == set(exact) | {f"{k}_ci95" for k in exact if "@" in k} | {"users_sampled"}


def test_interval_covers_the_exact_value_in_most_samples():
    """50 seeded samples of 60 of 300 users: about 95% of the intervals hold the exact mean."""
    rng = np.random.default_rng(11)
    num_users, num_items = 300, 60
    users = rng.standard_normal((num_users, 4)).astype(np.float32)
    items = rng.standard_normal((num_items, 4)).astype(np.float32)
    train = sp.csr_matrix(rng.random((num_users, num_items)) < 0.1)
    test = sp.csr_matrix((rng.random((num_users, num_items)) < 0.08) & (train.toarray() == 0))
    exact = full_ranking_metrics(users, items, test, exclude=train, ks=(10,), extras=False)
    assert exact["users_evaluated"] >= 250
    covered = {key: 0 for key in exact if "@" in key}
    for seed in range(50):
        m = full_ranking_metrics(
            users, items, test, exclude=train, ks=(10,), extras=False, sample_users=60, seed=seed
        )
        for key in covered:
            covered[key] += abs(m[key] - exact[key]) <= m[f"{key}_ci95"]
    for key, hits in covered.items():
        assert 0.85 <= hits / 50 <= 1.0, (key, hits)


def test_confidence_half_width_formula():
    rng = np.random.default_rng(12)
    values = rng.random((30, 2))
    s = values.std(axis=0, ddof=1)
    want = 1.96 * s / np.sqrt(30) * np.sqrt((200 - 30) / (200 - 1))
    np.testing.assert_allclose(confidence_half_width(values, 200), want, rtol=1e-12)
    assert np.all(confidence_half_width(values, 30) == 0)
    assert np.isnan(confidence_half_width(values[:1], 200)).all()
    with pytest.raises(InputError):
        confidence_half_width(values, 29)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_sample_size_raises(bad):
    users, items, _, _, test = random_problem()
    with pytest.raises(InputError, match="^sample_users must be a positive integer"):
        full_ranking_metrics(users, items, test, sample_users=bad)


def test_sampled_empty_test_set():
    users, items, train, _, _ = random_problem()
    empty = sp.csr_matrix((NUM_USERS, NUM_ITEMS))
    m = full_ranking_metrics(users, items, empty, exclude=train, ks=(5,), sample_users=10)
    assert m["users_sampled"] == m["users_evaluated"] == 0
    assert np.isnan(m["recall@5"]) and np.isnan(m["recall@5_ci95"])


# --- spectrum -------------------------------------------------------------------------


def test_singular_values_match_svd():
    rng = np.random.default_rng(5)
    for shape in [(200, 16), (10, 16)]:
        table = rng.standard_normal(shape).astype(np.float32)
        want = np.linalg.svd(table.astype(np.float64), compute_uv=False)
        got = singular_values(table)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        assert np.all(np.diff(got) <= 0)
    np.testing.assert_allclose(singular_values(tf.constant(table)), want, rtol=1e-6, atol=1e-6)


def test_effective_rank():
    rng = np.random.default_rng(6)
    assert effective_rank(np.eye(16)) == pytest.approx(16.0)
    assert effective_rank(np.tile(np.eye(8), (5, 1))) == pytest.approx(8.0)
    rank_one = np.outer(rng.standard_normal(300), rng.standard_normal(12))
    # Through the float64 Gram matrix the zero σs come out near √u·σ₁, not 0: the bound.
    excess = rank_one_erank_excess(*rank_one.shape)
    assert 1.0 <= effective_rank(rank_one) <= 1.0 + excess
    table = rng.standard_normal((300, 12)) * np.linspace(0.1, 3.0, 12)
    sigma = np.linalg.svd(table, compute_uv=False)
    p = sigma / sigma.sum()
    want = np.exp(-np.sum(p * np.log(p)))
    assert effective_rank(table) == pytest.approx(want, rel=1e-8)
    assert effective_rank(tf.constant(table, tf.float32)) == pytest.approx(want, rel=1e-5)
    assert effective_rank(sigma) == pytest.approx(want, rel=1e-12)
    assert effective_rank([2.0, 2.0, 0.0]) == pytest.approx(2.0)
    assert effective_rank(np.zeros((4, 3))) == 0.0
    with pytest.raises(InputError):
        effective_rank([1.0, -1.0])


def test_spectrum_summary():
    rng = np.random.default_rng(7)
    users = rng.standard_normal((40, 6)) * [1, 1, 1, 0.1, 0.1, 0.1]
    items = rng.standard_normal((70, 6))
    summary = spectrum_summary(users, tf.constant(items))
    assert summary["user"] == pytest.approx(effective_rank(users))
    assert summary["item"] == pytest.approx(effective_rank(items), rel=1e-6)
    assert summary["all"] == pytest.approx(effective_rank(np.vstack([users, items])), rel=1e-6)
    with pytest.raises(InputError, match="widths"):
        spectrum_summary(users, items[:, :5])
