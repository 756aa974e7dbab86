"""Synthetic implicit-feedback logs with power-law degrees and a planted rank-``rank`` model.

The generative model (``K = rank`` topics, ``U`` users, ``I`` items):

* item popularity ``w_i = r_i^(-ITEM_EXPONENT)`` where ``r_i`` is a random permutation of
  ``1..I`` (Zipf rank-frequency law, exponent 0.5; the index reveals nothing);
* item topic affinity ``a_i ~ Dirichlet(ITEM_CONCENTRATION)`` (0.05: mostly one
  topics), and per-topic item distributions ``φ_z(i) = w_i a_iz / Σ_j w_j a_jz``;
* user topic mixture ``θ_u ~ Dirichlet(USER_CONCENTRATION)`` (0.05: one or two topics);
* user activity ``n_u = MIN_USER_PAIRS + round((pairs - MIN_USER_PAIRS·U) s_u / Σ s)``
  with ``s_u ~ Lomax(USER_EXPONENT)`` (tail ``P(s > x) = (1 + x)^(-2)``; the rounding is
  stochastic so ``Σ n_u ≈ pairs``), capped at ``I // 4`` (the excess moves to other users);
* each of user ``u``'s pairs draws ``z ~ θ_u`` then ``i ~ φ_z``; duplicate ``(u, i)`` are
  dropped and redrawn for up to ``TOP_UP_ROUNDS`` rounds, so the delivered count is
  ``pairs`` or slightly below it (heavy users with narrow tastes run out of new items).

Hence ``P(i | u) = Σ_z θ_uz φ_z(i)``: the expected interaction matrix ``θ Φᵀ`` has rank
``K``, and :attr:`SyntheticData.user_mix` ``@`` :attr:`SyntheticData.item_weights` ``.T``
are the oracle's scores. Each pair goes to test with probability ``test_fraction``; a user
whose pairs all went to test gets its first one back, so every user has a train pair.

The three shape constants are set so that the log behaves like public ones, where
personal taste, not popularity, decides most pairs: on the CiteULike and Gowalla test
splits, recommending the most popular items scores NDCG@20 0.032, and the zoo's models
five to seven times that. With these constants a 1M-pair log gives popularity 0.023 and
the oracle 0.080 (3.5×); with a steeper popularity law (0.8) and broader tastes
(0.2, 0.1), popularity reached 0.106 against the oracle's 0.159, a log in which
popularity alone is nearly as good as knowing the model
(``pipelines/benchmarks/bench_synthetic_quality.py`` measures both on a generated log).

Sizes default to ``users = ceil(pairs / 40)`` and ``items = max(pairs // 80, 160, 4 * rank)``
(mean user degree 40, mean item degree 80; the floor of 160 items keeps small logs
feasible under the ``I // 4`` cap). Raw ids look like a real log: distinct random
integers below ``10**18`` (18 digits, so :func:`~tfdirectspec.data.readers.read_interactions`
keeps its fast integer path) or strings ``"u" / "i" + 12 hex digits``.

Generation runs over chunks of users (about ``CHUNK_PAIRS`` draws each) and never builds
anything ``users × items``: 100M pairs fit in a few GB (pairs are kept as ``int32``
indices; raw ids are looked up only when writing).

Example:
    >>> data = synthesize(1000, seed=1, rank=4, users=50, items=200)
    >>> data.num_users, data.num_items, data.train.shape[1]
    (50, 200, 2)
    >>> len(data.train) + len(data.test) <= 1000
    True
    >>> data.user_mix.shape, data.item_weights.shape
    ((50, 4), (200, 4))
    >>> data.user_ids.dtype, data.raw(data.train[:1]).shape
    (dtype('int64'), (1, 2))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tfdirectspec.parameters import ParameterError, check_fraction

#: Zipf exponent of item popularity (``w ∝ rank^-0.5``).
ITEM_EXPONENT = 0.5
#: Lomax (Pareto II) tail exponent of user activity (``P(s > x) = (1 + x)^-2``).
USER_EXPONENT = 2.0
#: Dirichlet concentrations of the user mixtures and item affinities.
USER_CONCENTRATION = 0.05
ITEM_CONCENTRATION = 0.05
#: Every user draws at least this many pairs (so a train/test split is possible).
MIN_USER_PAIRS = 2
#: Default sizes: ``pairs // USERS_DIVISOR`` users, ``pairs // ITEMS_DIVISOR`` items.
USERS_DIVISOR = 40
ITEMS_DIVISOR = 80
#: A user draws at most ``items // MAX_USER_SHARE`` pairs.
MAX_USER_SHARE = 4
#: Rounds of redrawing duplicates before a user's shortfall is accepted.
TOP_UP_ROUNDS = 6
#: Draws per chunk of users: bounds the temporary memory (a few hundred MB).
CHUNK_PAIRS = 4_000_000
#: Raw integer ids are below this (18 digits: the reader's fast path).
MAX_INT_ID = 10**18
#: String ids: a prefix and this many hex digits.
HEX_DIGITS = 12
ID_TYPES = ("int", "str")


@dataclass(frozen=True)
class SyntheticData:
    """A generated log: index pairs, raw id maps and the planted model.

    Attributes:
        train, test: ``[n, 2]`` ``int32`` ``(user index, item index)`` pairs, sorted by
            user then item; :meth:`raw` maps them to raw ids.
        user_ids, item_ids: raw ids of the indices (``int64`` or numpy unicode strings).
        user_mix: ``[U, rank]`` float32, the users' topic mixtures ``θ``.
        item_weights: ``[I, rank]`` float32, ``φ_z(i)`` (each column sums to 1).
        params: the arguments and model constants that produced the data.
    """

    train: np.ndarray
    test: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    user_mix: np.ndarray
    item_weights: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def raw(self, pairs: np.ndarray) -> np.ndarray:
        """``[n, 2]`` index pairs as raw ids (for small arrays: strings are materialised)."""
        users, items = self.user_ids[pairs[:, 0]], self.item_ids[pairs[:, 1]]
        return np.stack([users, items], axis=1) if len(pairs) else users.reshape(0, 2)


def default_sizes(pairs: int, rank: int) -> tuple[int, int]:
    """``(users, items)`` when not given.

    Example:
        >>> default_sizes(1_000_000, 16), default_sizes(1000, 16)
        ((25000, 12500), (25, 160))
    """
    users = -(-pairs // USERS_DIVISOR)
    return users, max(pairs // ITEMS_DIVISOR, MAX_USER_SHARE * USERS_DIVISOR, 4 * rank)


def _check(pairs: int, rank: int, users: int, items: int, test_fraction: float, id_type: str):
    for name, value in (("pairs", pairs), ("rank", rank), ("users", users), ("items", items)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ParameterError(name, f"must be a positive integer, got {value}")
    if pairs < MIN_USER_PAIRS:
        raise ParameterError("pairs", f"must be at least {MIN_USER_PAIRS}, got {pairs}")
    if rank > items:
        raise ParameterError("rank", f"must be at most items, got {rank} > {items}", ["items"])
    if users * MIN_USER_PAIRS > pairs:
        raise ParameterError(
            "users", f"must be at most pairs / {MIN_USER_PAIRS}, got {users} for {pairs}", ["pairs"]
        )
    if users * (items // MAX_USER_SHARE) < pairs:
        raise ParameterError(
            "pairs",
            f"must be at most users * (items // {MAX_USER_SHARE}) = "
            f"{users * (items // MAX_USER_SHARE)}, got {pairs} (give more users or items)",
            ["users", "items"],
        )
    check_fraction("test_fraction", test_fraction)
    if id_type not in ID_TYPES:
        raise ParameterError("id_type", f"must be one of {', '.join(ID_TYPES)}, got {id_type!r}")


# Long by its docstring only: the body is the generator's one straight path of draws.
def synthesize(
    pairs: int,
    seed: int = 0,
    rank: int = 16,
    users: int | None = None,
    items: int | None = None,
    test_fraction: float = 0.2,
    id_type: str = "int",
) -> SyntheticData:
    """Generates a log of about ``pairs`` distinct (user, item) pairs (see the module).

    Args:
        pairs: number of pairs to draw (the delivered count may be slightly lower).
        seed: seeds everything (same arguments and seed, same data).
        rank: number of planted topics ``K`` (the rank of the expected matrix).
        users, items: sizes; default ``ceil(pairs / 40)`` and
            ``max(pairs // 80, 160, 4 * rank)``.
        test_fraction: probability that a pair is held out to test, in ``[0, 1)``.
        id_type: ``"int"`` (random int64 ids) or ``"str"`` (``u…``/``i…`` hex strings).

    Raises:
        ParameterError: (an ``InputError``) a non-positive size, ``rank > items``,
            ``users > pairs / 2``, more pairs than ``users * (items // 4)``, a bad
            fraction or id type.
    """
    default_users, default_items = default_sizes(pairs, rank) if pairs >= 1 else (1, 1)
    users = default_users if users is None else users
    items = default_items if items is None else items
    _check(pairs, rank, users, items, test_fraction, id_type)
    rng = np.random.default_rng(seed)
    item_table, item_cdf = _item_model(rng, items, rank)
    user_mix = rng.dirichlet(np.full(rank, USER_CONCENTRATION), size=users).astype(np.float32)
    degrees = _user_degrees(rng, pairs, users, items)
    buffer = np.empty((int(degrees.sum()), 2), dtype=np.int32)
    is_test = np.empty(len(buffer), dtype=bool)
    filled = 0
    for start, stop in _chunks(degrees):
        chunk = _draw_chunk(rng, user_mix[start:stop], degrees[start:stop], item_cdf)
        chunk[:, 0] += start
        n = len(chunk)
        buffer[filled : filled + n] = chunk
        is_test[filled : filled + n] = _split_mask(rng, chunk[:, 0] - start, test_fraction)
        filled += n
    buffer, is_test = buffer[:filled], is_test[:filled]
    train, test = buffer[~is_test], buffer[is_test]
    del buffer, is_test
    user_ids, item_ids = _raw_ids(rng, users, "u", id_type), _raw_ids(rng, items, "i", id_type)
    params = {
        "pairs_requested": int(pairs),
        "seed": int(seed),
        "rank": int(rank),
        "users": int(users),
        "items": int(items),
        "test_fraction": float(test_fraction),
        "id_type": id_type,
        "item_exponent": ITEM_EXPONENT,
        "user_exponent": USER_EXPONENT,
        "user_concentration": USER_CONCENTRATION,
        "item_concentration": ITEM_CONCENTRATION,
        "min_user_pairs": MIN_USER_PAIRS,
    }
    return SyntheticData(train, test, user_ids, item_ids, user_mix, item_table, params)


def _item_model(rng: np.random.Generator, items: int, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``φ`` as an ``[I, K]`` float32 table, and its ``[K, I]`` float64 CDFs (rows end at 1)."""
    popularity = (rng.permutation(items) + 1.0) ** -ITEM_EXPONENT
    affinity = rng.dirichlet(np.full(rank, ITEM_CONCENTRATION), size=items)
    weights = affinity * popularity[:, None]
    del affinity
    total = weights.sum(axis=0)
    # A topic no item leans to (tiny I) would have no distribution: give it popularity.
    empty = total <= 0
    weights[:, empty] = popularity[:, None]
    weights /= weights.sum(axis=0)
    cdf = np.cumsum(weights.T, axis=1)
    cdf /= cdf[:, -1:]
    return weights.astype(np.float32), cdf


def _user_degrees(rng: np.random.Generator, pairs: int, users: int, items: int) -> np.ndarray:
    """Power-law pair counts per user, summing to about ``pairs``, each in ``[2, I // 4]``."""
    cap = max(MIN_USER_PAIRS, items // MAX_USER_SHARE)
    share = rng.pareto(USER_EXPONENT, size=users)
    extra = float(pairs - MIN_USER_PAIRS * users)
    degrees = np.full(users, MIN_USER_PAIRS, dtype=np.int64)
    free = np.ones(users, dtype=bool)
    # Capped users hand their excess to the others; a few passes settle it.
    for _ in range(20):
        if extra <= 0 or not free.any():
            break
        raw = extra * share * free / share[free].sum()
        add = np.floor(raw + rng.random(users)).astype(np.int64)
        add = np.minimum(add, cap - degrees)
        degrees += add
        extra -= float(add.sum())
        free &= degrees < cap
    return degrees


def _chunks(degrees: np.ndarray):
    """``(start, stop)`` user ranges of about ``CHUNK_PAIRS`` draws each."""
    ends = np.cumsum(degrees)
    start = 0
    while start < len(degrees):
        stop = int(np.searchsorted(ends, ends[start] - degrees[start] + CHUNK_PAIRS, "right"))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop


def _draw_chunk(
    rng: np.random.Generator, mix: np.ndarray, degrees: np.ndarray, item_cdf: np.ndarray
) -> np.ndarray:
    """Distinct ``(local user, item)`` pairs of a chunk of users, sorted.

    Each round draws every short user's topic counts (multinomial over ``θ_u``), then for
    each topic all of its items at once: sorted uniforms make ``searchsorted`` walk the
    CDF in order (ten times faster than random look-ups in a CDF larger than the cache),
    and shuffling the users they go to makes the draws i.i.d. again.
    """
    rank, items = item_cdf.shape
    topic_p = mix.astype(np.float64)
    topic_p /= topic_p.sum(axis=1, keepdims=True)
    keys = np.empty(0, dtype=np.int64)
    need = degrees.astype(np.int64)
    for _ in range(TOP_UP_ROUNDS):
        wanted = np.flatnonzero(need)
        if len(wanted) == 0:
            break
        counts = rng.multinomial(need[wanted], topic_p[wanted])
        parts = [keys]
        for z in range(rank):
            total = int(counts[:, z].sum())
            if total == 0:
                continue
            user = np.repeat(wanted, counts[:, z])
            rng.shuffle(user)
            item = np.searchsorted(item_cdf[z], _sorted_uniforms(rng, total), side="right")
            np.minimum(item, items - 1, out=item)
            parts.append(user * items + item)
        keys = _sorted_unique(np.concatenate(parts))
        del parts
        need = degrees - np.bincount(keys // items, minlength=len(degrees))
    out = np.empty((len(keys), 2), dtype=np.int32)
    out[:, 0] = keys // items
    out[:, 1] = keys % items
    return out


def _sorted_uniforms(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` sorted i.i.d. uniforms in O(n): normalised partial sums of exponentials."""
    sums = np.cumsum(rng.standard_exponential(n + 1))
    return sums[:-1] / sums[-1]


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` by an in-place sort (numpy 2's hashing ``unique`` is slower here)."""
    keys.sort()
    keep = np.empty(len(keys), dtype=bool)
    keep[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _split_mask(rng: np.random.Generator, user: np.ndarray, test_fraction: float) -> np.ndarray:
    """Bernoulli test mask over pairs sorted by user; each user keeps its first pair if
    all of its pairs were drawn to test."""
    is_test = rng.random(len(user)) < test_fraction
    counts = np.bincount(user)
    first = np.cumsum(counts) - counts
    train_counts = np.bincount(user[~is_test], minlength=len(counts))
    lost = (train_counts == 0) & (counts > 0)
    is_test[first[lost]] = False
    return is_test


def _raw_ids(rng: np.random.Generator, n: int, prefix: str, id_type: str) -> np.ndarray:
    """``n`` distinct random raw ids: int64 below ``MAX_INT_ID`` or ``prefix`` + hex."""
    high = MAX_INT_ID if id_type == "int" else 16**HEX_DIGITS
    ids = rng.integers(0, high, size=n, dtype=np.int64)
    # Collisions are rare (n² / 2·high): redraw only the repeated ones.
    while True:
        order = np.argsort(ids, kind="stable")
        repeat = np.zeros(n, dtype=bool)
        repeat[order[1:]] = ids[order[1:]] == ids[order[:-1]]
        if not repeat.any():
            break
        ids[repeat] = rng.integers(0, high, size=int(repeat.sum()), dtype=np.int64)
    if id_type == "int":
        return ids
    shifts = 4 * np.arange(HEX_DIGITS - 1, -1, -1, dtype=np.int64)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[(ids[:, None] >> shifts) & 15]
    text = np.empty((n, HEX_DIGITS + 1), dtype=np.uint8)
    text[:, 0] = ord(prefix)
    text[:, 1:] = digits
    return text.view(f"S{HEX_DIGITS + 1}").ravel().astype(f"U{HEX_DIGITS + 1}")
