"""Seeded per-user hold-out splits of interaction pairs."""

from __future__ import annotations

import numpy as np

from tfdirectspec.parameters import check_fraction


def holdout_mask(groups: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Picks, within each group, a random ``round(fraction * size)`` of its members.

    Every group keeps at least one member out of the hold-out, so a group of one is
    never held out. Halves round up (``0.5 -> 1``) rather than to even, so the count
    only grows with the group size.

    Args:
        groups: ``[n]`` non-negative integer group codes (e.g. user indices), any order.
        fraction: share in ``[0, 1)`` to hold out per group.
        rng: the random generator; the result depends only on it and the inputs.

    Returns:
        A boolean ``[n]`` mask, True for held-out entries.

    Example:
        >>> mask = holdout_mask(np.array([0, 0, 0, 0, 1]), 0.5, np.random.default_rng(0))
        >>> int(mask[:4].sum()), bool(mask[4])
        (2, False)
    """
    groups = np.asarray(groups, dtype=np.int64)
    n = groups.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    keys = rng.random(n)
    # Sorting by (group, random key) gives a uniform random order inside each group.
    order = np.lexsort((keys, groups))
    return _first_of_each_group(groups, order, fraction)


def _first_of_each_group(groups: np.ndarray, order: np.ndarray, fraction: float) -> np.ndarray:
    """Mask of the first ``round(fraction · size)`` of each group in ``order`` (halves up,
    at least one member of each group kept out), ``order`` sorting the entries by group."""
    n = groups.size
    sizes = np.bincount(groups)
    first = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    sorted_groups = groups[order]
    rank = np.arange(n) - first[sorted_groups]
    quota = np.clip(np.minimum(np.floor(fraction * sizes + 0.5), sizes - 1), 0, None)
    mask = np.zeros(n, dtype=bool)
    mask[order] = rank < quota[sorted_groups]
    return mask


def split_by_ratio(
    pairs: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Splits pairs into train and test, per user, at random with a fixed seed.

    Each user sends ``round(test_fraction * degree)`` (halves up) of its distinct items to
    test and keeps at least one in train. Duplicate pairs are dropped first so a pair can
    never be in both parts. Both outputs keep the input's row order and dtype.

    Args:
        pairs: ``[n, 2]`` raw ``(user, item)`` ids (integers or strings).
        test_fraction: share in ``[0, 1)`` of each user's items to put in test.
        seed: seed of the ``numpy`` generator; same seed, same split.

    Returns:
        ``(train_pairs, test_pairs)``, both ``[*, 2]`` arrays.

    Raises:
        InputError: ``test_fraction`` is outside ``[0, 1)``.

    Example:
        >>> pairs = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 1]])
        >>> train, test = split_by_ratio(pairs, 0.25, seed=0)
        >>> len(train), len(test)
        (4, 1)
    """
    fraction = check_fraction("test_fraction", test_fraction)
    pairs = np.asarray(pairs)
    if pairs.size == 0:
        pairs = pairs.reshape(0, 2)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape [n, 2], got {pairs.shape}")
    _, users = np.unique(pairs[:, 0], return_inverse=True)
    item_codes, items = np.unique(pairs[:, 1], return_inverse=True)
    keys = users.astype(np.int64) * max(len(item_codes), 1) + items
    _, first_rows = np.unique(keys, return_index=True)
    kept = np.sort(first_rows)
    mask = holdout_mask(users[kept], fraction, np.random.default_rng(seed))
    return pairs[kept[~mask]], pairs[kept[mask]]


#: Accepted values of ``method`` of the hold-out splits.
SPLIT_METHODS = ("random", "time")


def latest_mask(
    groups: np.ndarray, times: np.ndarray, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Picks, within each group, its latest ``round(fraction * size)`` members by time.

    The count per group is :func:`holdout_mask`'s (halves up, at least one member kept
    out), so a temporal split holds out as many items per user as a random one. Equal
    times are ordered at random by ``rng``, so ties split reproducibly.

    Args:
        groups: ``[n]`` non-negative integer group codes (e.g. user indices), any order.
        times: ``[n]`` times (any numeric scale, larger is later).
        fraction: share in ``[0, 1)`` to hold out per group.
        rng: breaks ties between equal times.

    Returns:
        A boolean ``[n]`` mask, True for the held-out (latest) entries.

    Example:
        >>> groups = np.array([0, 0, 0, 0, 1, 1])
        >>> times = np.array([4.0, 1.0, 3.0, 2.0, 5.0, 9.0])
        >>> latest_mask(groups, times, 0.5, np.random.default_rng(0)).tolist()
        [True, False, True, False, False, True]
    """
    groups = np.asarray(groups, dtype=np.int64)
    n = groups.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    keys = rng.random(n)
    # Sorted by group, then latest first (ties at random).
    order = np.lexsort((keys, -np.asarray(times, dtype=np.float64), groups))
    return _first_of_each_group(groups, order, fraction)


def cutoff_mask(times: np.ndarray, cutoff: float) -> np.ndarray:
    """The entries at or after ``cutoff``: one global temporal cut.

    Unlike :func:`latest_mask` it keeps no item per user in train: a user whose whole
    history lies after the cut is only in the held-out part.

    Example:
        >>> cutoff_mask(np.array([1.0, 5.0, 3.0]), 3.0).tolist()
        [False, True, True]
    """
    return np.asarray(times, dtype=np.float64) >= float(cutoff)
