"""How well the planted model and popularity rank a synthetic log's test pairs.

For a seeded sample of users with test pairs, :func:`planted_quality` ranks all items
(train items excluded) with

* the oracle: ``score(u, i) = θ_u · φ(i)``, the planted ``P(i | u)``
  (``user_mix @ item_weights.T``), and
* popularity: ``score(u, i) = train count of i`` (a ``[U, 1]`` table of ones against a
  ``[I, 1]`` table of counts),

and reports :func:`~tfdirectspec.evaluation.ranking.full_ranking_metrics`' NDCG@K and
Recall@K for both. The gap is the margin a model that recovers the rank-``rank``
structure can gain over popularity on this data. Sparse matrices are built for the
sampled users only (never anything dense ``users × items``).

Example:
    >>> from tfdirectspec.data.synthetic import synthesize
    >>> data = synthesize(4000, seed=0, rank=4, users=100, items=400)
    >>> q = planted_quality(data, ks=(20,), sample_users=50)
    >>> q["oracle"]["ndcg@20"] > q["popularity"]["ndcg@20"], q["users_evaluated"]
    (True, 50)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from tfdirectspec.data.synthetic import SyntheticData

#: Users sampled for the check by default (enough for a ±0.01 NDCG estimate).
SAMPLE_USERS = 5000
#: Most scores in one block of the ranking (users per block × items): 256 MB of float32.
BLOCK_SCORES = 2**26


def planted_quality(
    data: SyntheticData,
    ks: Sequence[int] = (20,),
    sample_users: int = SAMPLE_USERS,
    seed: int = 0,
) -> dict[str, Any]:
    """Test NDCG@K and Recall@K of the oracle and of popularity on sampled users.

    Args:
        data: a generated log with at least one test pair.
        ks: cut-offs (each at most the number of items).
        sample_users: users drawn (without replacement) among those with test pairs;
            all of them when there are fewer.
        seed: seeds the sample.

    Returns:
        ``{"oracle": {...}, "popularity": {...}, "users_evaluated": n, "ks": [...]}`` with
        ``"ndcg@K"`` and ``"recall@K"`` (floats) in each of the two.
    """
    from tfdirectspec.evaluation.ranking import full_ranking_metrics  # loads TensorFlow

    candidates = np.flatnonzero(np.bincount(data.test[:, 0], minlength=data.num_users))
    rng = np.random.default_rng(seed)
    if len(candidates) > sample_users:
        candidates = np.sort(rng.choice(candidates, size=sample_users, replace=False))
    test, train = (_rows(pairs, candidates, data) for pairs in (data.test, data.train))
    counts = np.bincount(data.train[:, 1], minlength=data.num_items).astype(np.float32)
    tables = {
        "oracle": (data.user_mix[candidates], data.item_weights),
        "popularity": (np.ones((len(candidates), 1), np.float32), counts[:, None]),
    }
    # Fewer users per block as items grow, so 1M items do not need a 4 GB block of scores.
    batch_size = int(np.clip(BLOCK_SCORES // data.num_items, 1, 1024))
    result: dict[str, Any] = {}
    for name, (users, items) in tables.items():
        metrics = full_ranking_metrics(
            users, items, test, exclude=train, ks=ks, batch_size=batch_size, extras=False
        )
        result[name] = {
            f"{metric}@{k}": float(metrics[f"{metric}@{k}"])
            for k in ks
            for metric in ("ndcg", "recall")
        }
    result["users_evaluated"] = len(candidates)
    result["ks"] = [int(k) for k in ks]
    return result


def _rows(pairs: np.ndarray, users: np.ndarray, data: SyntheticData) -> sp.csr_matrix:
    """The pairs of the sorted sample ``users`` as a ``len(users) × I`` binary CSR matrix."""
    sampled = np.zeros(data.num_users, dtype=bool)
    sampled[users] = True
    # A boolean mask first: 100M pairs never get an int64 temporary of their own.
    mine = pairs[sampled[pairs[:, 0]]]
    rows = np.searchsorted(users, mine[:, 0])
    values = np.ones(len(mine), dtype=np.float32)
    return sp.csr_matrix((values, (rows, mine[:, 1])), shape=(len(users), data.num_items))
