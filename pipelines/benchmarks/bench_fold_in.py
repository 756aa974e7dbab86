"""Fold-in quality: users held out of training, folded in from their train items.

A seeded ``--holdout`` share of CiteULike's users is removed from the log entirely; the
zoo's DirectSpec+ MF recipe trains ``--epochs`` epochs on the other users (the *partial*
run) and, for reference, on everyone (the *full* run, same seed and recipe). Each
held-out user is then folded in from their train items with the partial run's item table
(:mod:`tfdirectspec.serving.fold_in`), and ranked against all items, their train items
excluded. Their test NDCG@20 / Recall@20 are set against:

- the same users in the full run (trained with them: what retraining would give);
- the same users folded in with the full run's item table (the fold-in's own loss,
  with item vectors that saw these users);
- popularity on the partial run's training log.

Test items the partial run never saw (items only held-out users touched) cannot be
recommended by it; they are dropped from the held-out users' test sets for every row
(their count is in the JSON), so all rows rank the same test pairs.

Example::

    python pipelines/benchmarks/bench_fold_in.py --epochs 40 \\
        --out docs/benchmarks/fold_in_citeulike.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

KS = (20,)


def recipe(epochs: int, seed: int):
    """The zoo's CiteULike DirectSpec+ MF recipe, for ``epochs`` epochs, evaluated once."""
    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.zoo import zoo_defaults

    config = TrainConfig().updated(zoo_defaults("citeulike", "mf", "directspec+"), "zoo")
    return config.updated({"epochs": epochs, "eval_every": epochs, "ks": KS, "seed": seed}, "")


def subset(data, users: np.ndarray, name: str):
    """The users ``users`` (row indices) of ``data``, re-indexed from their raw ids."""
    from tfdirectspec.data.interactions import from_columns

    def columns(matrix):
        part = matrix[users].tocoo()
        return data.user_ids[users][part.row], data.item_ids[part.col]

    return from_columns(columns(data.train), columns(data.test), name=name)


def in_item_space(matrix: sp.csr_matrix, from_ids: np.ndarray, to_ids: np.ndarray):
    """``matrix``'s columns moved from item ids ``from_ids`` to ``to_ids`` (unknown: dropped)."""
    position = np.searchsorted(to_ids, from_ids)
    position = np.minimum(position, len(to_ids) - 1)
    known = to_ids[position] == from_ids
    coo = matrix.tocoo()
    keep = known[coo.col]
    out = sp.csr_matrix(
        (coo.data[keep], (coo.row[keep], position[coo.col[keep]])),
        shape=(matrix.shape[0], len(to_ids)),
    )
    return out, int((~keep).sum())


def fold_in_table(items: np.ndarray, train: sp.csr_matrix, method: str, l2: float) -> np.ndarray:
    """Folded-in user vectors, one per row of ``train`` (padded item rows, in blocks)."""
    import tensorflow as tf

    from tfdirectspec.serving.fold_in import fold_in_vectors

    out = []
    table = tf.constant(items, tf.float32)
    for start in range(0, train.shape[0], 256):
        block = train[start : start + 256]
        width = max(int(np.diff(block.indptr).max()), 1)
        index = np.zeros((block.shape[0], width), np.int64)
        known = np.zeros((block.shape[0], width), bool)
        for row in range(block.shape[0]):
            cols = block.indices[block.indptr[row] : block.indptr[row + 1]]
            index[row, : len(cols)], known[row, : len(cols)] = cols, True
        out.append(fold_in_vectors(table, index, known, method, l2).numpy())
    return np.concatenate(out)


def metrics(users, items, test, train) -> dict[str, float]:
    from tfdirectspec.evaluation import full_ranking_metrics

    m = full_ranking_metrics(users, items, test, exclude=train, ks=KS, extras=False)
    return {"ndcg@20": m["ndcg@20"], "recall@20": m["recall@20"], "users": m["users_evaluated"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--holdout", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ridge-l2", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from tfdirectspec.data import load_dataset
    from tfdirectspec.training.trainer import train

    data = load_dataset("citeulike")
    rng = np.random.default_rng(args.seed)
    held = np.sort(rng.choice(data.num_users, int(round(args.holdout * data.num_users)), False))
    kept = np.setdiff1d(np.arange(data.num_users), held)
    partial = subset(data, kept, "citeulike-partial")
    config = recipe(args.epochs, args.seed)
    runs = {}
    for name, run_data in (("partial", partial), ("full", data)):
        started = time.perf_counter()
        result = train(config, data=run_data, verbose=0)
        users, items = (np.asarray(t) for t in result.model.tables())
        runs[name] = {"users": users, "items": items, "seconds": time.perf_counter() - started}
        print(f"{name}: {runs[name]['seconds']:.0f} s, test {result.metrics['test']}", flush=True)

    # The held-out users' train and test pairs in the partial run's item space.
    train_h, dropped_train = in_item_space(data.train[held], data.item_ids, partial.item_ids)
    test_h, dropped_test = in_item_space(data.test[held], data.item_ids, partial.item_ids)
    # The same test pairs in the full run's space (the item ids of partial, mapped back).
    test_full, _ = in_item_space(test_h, partial.item_ids, data.item_ids)
    full, part = runs["full"], runs["partial"]
    rows = {
        "trained with them (full run)": metrics(
            full["users"][held], full["items"], test_full, data.train[held]
        ),
    }
    for method, l2 in [("mean", 0.0)] + [("ridge", v) for v in args.ridge_l2]:
        label = "mean" if method == "mean" else f"ridge l2={l2:g}"
        vectors = fold_in_table(part["items"], train_h, method, l2)
        rows[f"fold-in {label} (partial run)"] = metrics(vectors, part["items"], test_h, train_h)
        vectors = fold_in_table(full["items"], data.train[held], method, l2)
        rows[f"fold-in {label}, full run's items"] = metrics(
            vectors, full["items"], test_full, data.train[held]
        )
    popularity = np.asarray(partial.train.sum(axis=0)).ravel().astype(np.float32)
    pop_users = np.ones((len(held), 1), np.float32)
    rows["popularity (partial log)"] = metrics(pop_users, popularity[:, None], test_h, train_h)

    reference = rows["trained with them (full run)"]["ndcg@20"]
    print(f"\n| {len(held)} held-out users | NDCG@20 | Recall@20 | × trained |")
    print("|---|---|---|---|")
    for label, m in rows.items():
        print(f"| {label} | {m['ndcg@20']:.4f} | {m['recall@20']:.4f} | "
              f"{m['ndcg@20'] / reference:.2f} |")  # fmt: skip
    record = {
        "dataset": "citeulike",
        "recipe": "models/citeulike-mf-directspec-plus.toml",
        "epochs": args.epochs,
        "seed": args.seed,
        "held_out_users": int(len(held)),
        "trained_users": int(len(kept)),
        "items_partial": int(partial.num_items),
        "items_full": int(data.num_items),
        "held_out_train_pairs_unknown_to_partial": dropped_train,
        "held_out_test_pairs_unknown_to_partial": dropped_test,
        "train_seconds": {k: round(v["seconds"], 1) for k, v in runs.items()},
        "rows": rows,
        "command": "python pipelines/benchmarks/bench_fold_in.py " + " ".join(sys.argv[1:]),
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
