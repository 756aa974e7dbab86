"""Quality check of the synthetic generator: trained models beat popularity, and the rank shows.

On a folder written by ``tfdirectspec synthesize`` (which keeps the planted model in
``truth.npz``), this trains DirectSpec+ and BPR MF with their default recipes
(``tfdirectspec train --data-dir D --loss L --valid-fraction 0.1``: selection on
validation, test read once), then scores on the same test split, with the same
exclusions (all training pairs):

* popularity: every user gets the items with the most training pairs;
* the oracle: the planted scores ``θ_u · Φ_i`` (``user_mix @ item_weights.T``, rank K);
* each trained model (its ``metrics.json`` test figures).

It also reports how much of the planted rank K the learned tables show: the effective
rank ``exp(H(σ/Σσ))`` of each table and of the planted ones, the number of singular
values that hold 90 % of ``Σσ²`` (the "energy rank"), and the share of the planted
factors' variance that a linear map of each learned table explains (``planted_r2``,
against random tables of the same shape), and the number of leading principal directions
of each table that explain 95 % of that (``planted_rank``: K when the planted structure
fills exactly the table's top K directions). DirectSpec+ balances its spectrum by design,
and directions fitted to noise come out at nearly the same scale as the planted ones, so
the effective rank goes towards d whatever the data's rank; ``planted_rank`` says where
the planted K-dimensional structure sits in the tables all the same.

Run (about 20 min for 1M pairs on 2 cores)::

    tfdirectspec synthesize --pairs 1000000 --output /tmp/synth1m
    python pipelines/benchmarks/bench_synthetic_quality.py /tmp/synth1m --runs /tmp/synth1m-runs \\
        --out docs/benchmarks/synthetic_quality_1m.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

LOSSES = ("directspec+", "bpr")
KS = (20,)


def energy_rank(sigma: np.ndarray, share: float = 0.9) -> int:
    """Fewest singular values whose squares hold ``share`` of ``Σσ²``.

    Example:
        >>> energy_rank(np.array([3.0, 1.0, 1.0, 0.0]))
        2
    """
    energy = np.cumsum(np.sort(sigma)[::-1] ** 2)
    return int(np.searchsorted(energy, share * energy[-1]) + 1)


def spectrum_report(users: np.ndarray, items: np.ndarray) -> dict[str, Any]:
    from tfdirectspec.evaluation.spectrum import effective_rank, singular_values

    out = {}
    for name, table in (("user", users), ("item", items)):
        sigma = singular_values(table)
        out[f"{name}_erank"] = effective_rank(sigma)
        out[f"{name}_energy_rank_90"] = energy_rank(sigma)
    return out


def planted_share(learned: np.ndarray, planted: np.ndarray) -> float:
    """Share of the planted factors' variance that a linear map of the learned table explains.

    The R² of the least-squares regression (with intercept) of ``planted`` (rows × K)
    on ``learned`` (rows × d), pooled over the K columns (the last point of
    :func:`planted_share_by_rank`): 1 when the learned table
    spans the planted subspace, about d / rows for a random table. It does not
    depend on how the learned spectrum is spread, so it tells a balanced spectrum
    that holds the planted structure from one that does not.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> planted = rng.normal(size=(500, 3))
        >>> round(planted_share(planted @ rng.normal(size=(3, 8)), planted), 6)
        1.0
    """
    return float(planted_share_by_rank(learned, planted)[-1])


def planted_share_by_rank(learned: np.ndarray, planted: np.ndarray) -> np.ndarray:
    """``planted_share`` of the learned table's top-k principal directions, for k = 1 … d.

    The principal directions (left singular vectors of the centred table) are
    orthogonal, so the variance of ``planted`` they explain adds up direction by
    direction: entry k − 1 is the R² of the regression on the first k.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> planted = rng.normal(size=(2000, 2))
        >>> learned = np.column_stack([3 * planted, rng.normal(size=(2000, 4))])
        >>> planted_share_by_rank(learned, planted).round(1).tolist()[:3]
        [0.5, 1.0, 1.0]
    """
    centred = learned.astype(np.float64) - learned.mean(axis=0)
    left, sigma, _ = np.linalg.svd(centred, full_matrices=False)
    # Directions of a zero singular value are arbitrary: they are not in the table.
    left = left[:, sigma > sigma[0] * max(centred.shape) * np.finfo(np.float64).eps]
    y = planted.astype(np.float64) - planted.mean(axis=0)
    explained = np.sum((left.T @ y) ** 2, axis=1)
    return np.cumsum(explained) / np.sum(y**2)


def subspace_rank(learned: np.ndarray, planted: np.ndarray, share: float = 0.95) -> int:
    """Fewest principal directions of ``learned`` that explain ``share`` of what all of
    them explain of ``planted``: the rank at which the planted structure sits.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> planted = rng.normal(size=(2000, 2))
        >>> subspace_rank(np.column_stack([3 * planted, rng.normal(size=(2000, 4))]), planted)
        2
    """
    return rank_of(planted_share_by_rank(learned, planted), share)


def rank_of(curve: np.ndarray, share: float = 0.95) -> int:
    """Fewest leading directions of a ``planted_share_by_rank`` curve holding ``share`` of its end.

    Example:
        >>> rank_of(np.array([0.5, 0.96, 1.0]))
        2
    """
    return int(np.searchsorted(curve, share * curve[-1]) + 1)


def recovery_report(
    users: np.ndarray, items: np.ndarray, user_mix: np.ndarray, item_weights: np.ndarray
) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, learned, planted in (("user", users, user_mix), ("item", items, item_weights)):
        curve = planted_share_by_rank(learned, planted)
        out[f"{name}_planted_r2"] = float(curve[-1])
        out[f"{name}_planted_rank"] = rank_of(curve)
    return out


def index_of(raw: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Position in ``raw`` of each id of ``order`` (both hold the same ids)."""
    sorter = np.argsort(raw, kind="stable")
    return sorter[np.searchsorted(raw, order, sorter=sorter)]


def train_run(folder: Path, loss: str, runs: Path, seed: int) -> Path:
    out = runs / loss.replace("+", "-plus")
    if (out / "metrics.json").is_file():
        return out
    command = [sys.executable, "-m", "tfdirectspec", "train", "--data-dir", str(folder)]
    command += ["--loss", loss, "--valid-fraction", "0.1", "--seed", str(seed)]
    command += ["--output", str(out), "--overwrite", "--verbose", "0"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="a folder written by tfdirectspec synthesize")
    parser.add_argument("--runs", type=Path, required=True, help="where the two runs go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from tfdirectspec import quiet_tensorflow_startup

    quiet_tensorflow_startup()  # no CPU-probe lines on stderr: first, the next imports load TF
    from tfdirectspec.data.datasets import load_data_dir
    from tfdirectspec.evaluation.ranking import full_ranking_metrics
    from tfdirectspec.training.run_dir import Run

    data = load_data_dir(args.folder)
    truth = np.load(args.folder / "truth.npz")
    planted = json.loads((args.folder / "synthetic.json").read_text())
    user_mix = truth["user_mix"][index_of(truth["user_ids"], data.user_ids)]
    item_weights = truth["item_weights"][index_of(truth["item_ids"], data.item_ids)]
    counts = np.asarray(data.train.sum(axis=0)).ravel().astype(np.float32)

    def score(users: np.ndarray, items: np.ndarray) -> dict[str, float]:
        m = full_ranking_metrics(users, items, data.test, exclude=data.train, ks=KS)
        return {k: m[k] for k in ("ndcg@20", "recall@20")}

    report: dict[str, Any] = {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "machine": {"platform": platform.platform()},
        "data": {**data.summary(), "planted_rank": planted["params"]["rank"]},
        "popularity": score(np.ones((data.num_users, 1), np.float32), counts[:, None]),
        "oracle": {**score(user_mix, item_weights), **spectrum_report(user_mix, item_weights)},
    }

    for loss in LOSSES:
        run = Run.open(train_run(args.folder, loss, args.runs, args.seed))
        metrics = run.metrics()
        users, items = run.tables()
        report[loss] = {
            "ndcg@20": metrics["test"]["ndcg@20"],
            "recall@20": metrics["test"]["recall@20"],
            "valid_ndcg@20": metrics["valid"].get("ndcg@20"),
            "best_epoch": metrics["best_epoch"],
            "optimizer": metrics["config"]["optimizer"],
            "x_popularity": metrics["test"]["ndcg@20"] / report["popularity"]["ndcg@20"],
            "minutes": metrics["wall_seconds"] / 60,  # the training run's, even when reused
            **spectrum_report(users, items),
            **recovery_report(users, items, user_mix, item_weights),
        }
    # The floor of the planted R²: random tables of the trained ones' shape.
    rng = np.random.default_rng(args.seed)
    report["random_tables"] = recovery_report(
        rng.normal(size=users.shape), rng.normal(size=items.shape), user_mix, item_weights
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
