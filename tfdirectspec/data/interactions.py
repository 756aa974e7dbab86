"""``InteractionData``: train/valid/test user-item matrices plus the raw id maps."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tfdirectspec.data.id_maps import encode_ids
from tfdirectspec.data.splits import (
    SPLIT_METHODS,
    cutoff_mask,
    holdout_mask,
    latest_mask,
)
from tfdirectspec.errors import InputError
from tfdirectspec.parameters import ParameterError, check_fraction

#: File written by :meth:`InteractionData.save_id_maps`.
ID_MAPS_FILE = "id_maps.npz"


# eq=False: the generated __eq__/__hash__ would compare sparse matrices element-wise.
@dataclasses.dataclass(frozen=True, eq=False)
class InteractionData:
    """Implicit feedback as binary CSR matrices over shared user and item indices.

    Row ``u`` of every matrix is the user whose raw id is ``user_ids[u]``; column ``i``
    is the item ``item_ids[i]``. Matrices are ``float32``, binary, canonical (sorted
    indices, no duplicates) and all have the shape ``(num_users, num_items)``.

    Attributes:
        train: training interactions.
        test: test interactions; may be empty (``nnz == 0``).
        valid: validation interactions; empty when there is no validation split.
        user_ids: index -> raw user id (``int64`` for integer ids, else a string array).
        item_ids: index -> raw item id.
        name: a label for logs, e.g. the dataset name.
        train_time: ``float64`` epoch seconds of each stored train entry (in CSR order,
            aligned with ``train.indices``; a pair seen several times keeps its earliest
            time), or ``None`` when the data has no time column.
        test_time: the same for ``test``.
        valid_time: the same for ``valid``.
        split_info: how ``test`` and ``valid`` were made, e.g. ``{"test": {"method":
            "time", "fraction": 0.2}}`` (empty when they came as files).

    Example:
        >>> data = from_pairs([[10, 1], [10, 2], [11, 2]], [[11, 1]])
        >>> data.num_users, data.num_items, data.num_train
        (2, 2, 3)
    """

    train: sp.csr_matrix
    test: sp.csr_matrix
    valid: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    name: str = ""
    train_time: np.ndarray | None = None
    test_time: np.ndarray | None = None
    valid_time: np.ndarray | None = None
    split_info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.user_ids), len(self.item_ids))
        for part in ("train", "test", "valid"):
            matrix = getattr(self, part)
            if not sp.issparse(matrix) or matrix.format != "csr":
                raise TypeError(f"{part} must be a scipy.sparse CSR matrix")
            if matrix.shape != shape:
                raise ValueError(
                    f"{part} has shape {matrix.shape}, expected {shape} from the id maps"
                )
            times = getattr(self, f"{part}_time")
            if times is not None and len(times) != matrix.nnz:
                raise ValueError(f"{part}_time has {len(times)} entries, {part} {matrix.nnz} pairs")

    @property
    def has_times(self) -> bool:
        """Whether every split carries the time of its pairs (a log with a time column)."""
        return all(getattr(self, f"{part}_time") is not None for part in ("train", "test", "valid"))

    @classmethod
    def from_pandas(
        cls,
        frame: Any,
        user: str = "user",
        item: str = "item",
        time: str | None = None,
        name: str = "",
    ) -> InteractionData:
        """Builds the data (all pairs in ``train``) from a pandas DataFrame of interactions.

        Ids follow the readers' rule: integers when every id of a column is a
        non-negative integer, else strings. Duplicate pairs collapse, keeping the earliest
        time. Split it with :meth:`with_test_split` and :meth:`with_validation`.

        Args:
            frame: the DataFrame.
            user: the user id column.
            item: the item id column.
            time: a time column (datetimes, epoch seconds or ISO 8601 strings), or None.
            name: label stored on the result.

        Raises:
            InputError: a missing column (naming it), nulls, or a time column of no times.

        Example:
            >>> import pandas as pd
            >>> frame = pd.DataFrame({"u": ["a", "a", "b"], "i": [1, 1, 2], "t": [3, 1, 2]})
            >>> data = InteractionData.from_pandas(frame, user="u", item="i", time="t")
            >>> data.summary()["train"], data.user_ids.tolist(), data.train_time.tolist()
            (2, ['a', 'b'], [1.0, 2.0])
        """
        import pyarrow as pa

        from tfdirectspec.data.log_schema import epoch_seconds, typed_ids

        for role, column in (("user", user), ("item", item), ("time", time)):
            if column is not None and column not in frame.columns:
                known = ", ".join(repr(str(c)) for c in frame.columns)
                raise InputError(f"DataFrame: no {role} column {column!r} (it has {known})")
        ids = []
        for column in (user, item):
            values = frame[column]
            if values.isna().any():
                raise InputError(f"DataFrame: column {column!r} has nulls")
            if values.dtype.kind in "iu":
                ids.append(values.to_numpy(dtype=np.int64))
            else:
                text = pa.array(values.astype(str).str.strip().to_numpy(dtype=object))
                ids.append(typed_ids(text, "auto"))
        times = None
        if time is not None:
            values = frame[time]
            if values.dtype.kind == "M":
                times = values.to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6
            else:
                raw = values.to_numpy(dtype=object) if values.dtype.kind == "O" else values
                times = epoch_seconds(pa.array(raw))
            if times is None:
                raise InputError(f"DataFrame: column {time!r} holds no times")
        return from_columns((ids[0], ids[1]), train_time=times, name=name)

    @classmethod
    def from_csr(
        cls,
        matrix: Any,
        user_ids: Any = None,
        item_ids: Any = None,
        name: str = "",
    ) -> InteractionData:
        """Builds the data from a users × items sparse matrix (every stored nonzero a pair).

        Args:
            matrix: any scipy sparse matrix (or array); entries ``!= 0`` are interactions.
            user_ids: raw id of each row (default ``0..rows-1``); integers or strings, unique.
            item_ids: raw id of each column (default ``0..cols-1``).
            name: label stored on the result.

        Returns:
            The data with all pairs in ``train``, rows and columns ordered by raw id.

        Raises:
            InputError: id arrays of the wrong length or with repeated ids.

        Example:
            >>> import scipy.sparse as sp
            >>> m = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 1]]))
            >>> data = InteractionData.from_csr(m, user_ids=["b", "a"], item_ids=[10, 20, 30])
            >>> data.user_ids.tolist(), data.train.toarray().tolist()
            (['a', 'b'], [[0.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
            >>> data.item_ids.tolist()  # item 20 has no interaction and stays
            [10, 20, 30]
        """
        csr = sp.csr_matrix(matrix, dtype=np.float32)
        csr.eliminate_zeros()
        rows, cols = csr.shape
        user_order, sorted_users = _sorted_axis_ids("user_ids", user_ids, rows)
        item_order, sorted_items = _sorted_axis_ids("item_ids", item_ids, cols)
        # Every id stays, interactions or not; rows and columns follow the sorted ids.
        train = sp.csr_matrix(csr[user_order][:, item_order])
        train.sum_duplicates()
        train.data[:] = 1.0
        train.sort_indices()
        empty = sp.csr_matrix(train.shape, dtype=np.float32)
        return cls(
            train=train,
            test=empty,
            valid=empty.copy(),
            user_ids=sorted_users,
            item_ids=sorted_items,
            name=name,
        )

    @property
    def num_users(self) -> int:
        """Number of users (rows)."""
        return self.train.shape[0]

    @property
    def num_items(self) -> int:
        """Number of items (columns)."""
        return self.train.shape[1]

    @property
    def num_train(self) -> int:
        """Number of training interactions."""
        return int(self.train.nnz)

    @property
    def num_valid(self) -> int:
        """Number of validation interactions."""
        return int(self.valid.nnz)

    @property
    def num_test(self) -> int:
        """Number of test interactions."""
        return int(self.test.nnz)

    def summary(self) -> dict[str, int]:
        """Counts for logs and ``metrics.json``.

        Returns:
            ``{"users", "items", "train", "valid", "test"}`` as plain ints.

        Example:
            >>> from_pairs([[0, 0], [0, 1]]).summary()
            {'users': 1, 'items': 2, 'train': 2, 'valid': 0, 'test': 0}
        """
        return {
            "users": self.num_users,
            "items": self.num_items,
            "train": self.num_train,
            "valid": self.num_valid,
            "test": self.num_test,
        }

    def with_validation(
        self, fraction: float, seed: int, method: str = "random", cutoff: float | None = None
    ) -> InteractionData:
        """Moves a share of each user's train items to ``valid``: random ones, or the latest.

        Each user moves ``round(fraction * degree)`` items (halves up) and keeps at least
        one in train; users with a single item keep it. ``method="random"`` draws them
        with ``numpy.random.default_rng(seed)``; ``"time"`` takes each user's latest ones
        (ties at random by ``seed``), or with ``cutoff`` every pair at or after that time.

        Args:
            fraction: share in ``[0, 1)``; ``0`` (and no ``cutoff``) returns ``self``.
            seed: random seed.
            method: ``"random"`` or ``"time"`` (needs times, see :attr:`has_times`).
            cutoff: epoch seconds of one global cut (``method="time"`` only).

        Returns:
            A new ``InteractionData`` with the same ids, test and a smaller train.

        Raises:
            InputError: ``fraction`` is outside ``[0, 1)``.
            ValueError: the data already has a validation split.

        Example:
            >>> data = from_pairs([[0, i] for i in range(10)])
            >>> data.with_validation(0.2, seed=1).summary()["valid"]
            2
        """
        fraction = check_fraction("valid_fraction", fraction)
        if fraction == 0.0 and cutoff is None:
            return self
        if self.valid.nnz:
            raise ValueError("the data already has a validation split")
        return self._hold_out(fraction, seed, "valid", method, cutoff)

    def with_test_split(
        self, fraction: float, seed: int, method: str = "random", cutoff: float | None = None
    ) -> InteractionData:
        """Moves a share of each user's train items to ``test`` (same rule as validation).

        For data that comes without a test split (``load_data_dir`` of a folder with
        only a train file).

        Raises:
            InputError: ``fraction`` is outside ``[0, 1)``, or the data already has a test split.

        Example:
            >>> data = from_pairs([[0, i] for i in range(10)])
            >>> data.with_test_split(0.2, seed=1).summary()["test"]
            2
        """
        fraction = check_fraction("test_fraction", fraction)
        if fraction == 0.0 and cutoff is None:
            return self
        if self.test.nnz:
            raise ParameterError(
                "test_fraction", f"cannot apply: {self.name or 'the data'} already has a test split"
            )
        return self._hold_out(fraction, seed, "test", method, cutoff)

    def _hold_out(
        self, fraction: float, seed: int, into: str, method: str, cutoff: float | None
    ) -> InteractionData:
        if method not in SPLIT_METHODS:
            raise InputError(f"unknown split {method!r} (known: {', '.join(SPLIT_METHODS)})")
        if cutoff is not None and method != "time":
            raise InputError("--cutoff needs --split time")
        if method == "time" and self.train_time is None:
            raise InputError(
                f"{self.name or 'the data'}: --split time needs a time column "
                "(--columns USER,ITEM,TIME)"
            )
        rows = np.repeat(np.arange(self.num_users), np.diff(self.train.indptr))
        rng = np.random.default_rng(seed)
        if method == "random":
            mask = holdout_mask(rows, fraction, rng)
        elif cutoff is not None:
            mask = cutoff_mask(self.train_time, cutoff)
        else:
            mask = latest_mask(rows, self.train_time, fraction, rng)
        shape = self.train.shape
        times = self.train_time
        record = {"method": method, "fraction": fraction, "seed": seed}
        if cutoff is not None:
            record = {"method": method, "cutoff": cutoff}
        return dataclasses.replace(
            self,
            train=_select_entries(self.train, rows, ~mask, shape),
            train_time=None if times is None else times[~mask],
            split_info={**self.split_info, into: record},
            **{
                into: _select_entries(self.train, rows, mask, shape),
                f"{into}_time": None if times is None else times[mask],
            },
        )

    def exclusions(self) -> sp.csr_matrix:
        """The pairs a test ranking skips: train ∪ valid, as one binary ``U × I`` CSR matrix.

        Example:
            >>> data = from_pairs([[0, 0], [1, 1]], test_pairs=[[0, 1]], valid_pairs=[[1, 0]])
            >>> data.exclusions().toarray().tolist()
            [[1.0, 0.0], [1.0, 1.0]]
        """
        return pair_union(self.train, self.valid)

    def user_index(self, raw_ids) -> np.ndarray:
        """Maps raw user ids to row indices.

        Args:
            raw_ids: a raw id or an array-like of them. For integer id maps, strings
                holding integers are accepted too (ids read from text).

        Returns:
            ``int64`` indices with the shape of ``raw_ids``; ``-1`` for unknown ids.

        Example:
            >>> from_pairs([["bob", "x"], ["amy", "y"]]).user_index(["bob", "eve"])
            array([ 1, -1])
        """
        return _lookup(self.user_ids, raw_ids)

    def item_index(self, raw_ids) -> np.ndarray:
        """Maps raw item ids to column indices (``-1`` for unknown); see :meth:`user_index`."""
        return _lookup(self.item_ids, raw_ids)

    def save_id_maps(self, directory: str | os.PathLike) -> Path:
        """Writes ``user_ids`` and ``item_ids`` to ``directory/id_maps.npz``.

        The file holds plain numeric or string arrays (no pickles), so
        :meth:`load_id_maps` can map a trained model's indices back to raw ids.

        Args:
            directory: folder to write into; created if missing.

        Returns:
            The path of the written file.

        Example:
            >>> import tempfile
            >>> folder = Path(tempfile.mkdtemp())
            >>> from_pairs([["bob", "x"], ["amy", "y"]]).save_id_maps(folder / "mf").name
            'id_maps.npz'
        """
        path = Path(directory) / ID_MAPS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, user_ids=_plain_ids(self.user_ids), item_ids=_plain_ids(self.item_ids)
        )
        return path

    @staticmethod
    def load_id_maps(directory: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """Reads the id maps written by :meth:`save_id_maps`.

        Args:
            directory: the folder holding ``id_maps.npz``.

        Returns:
            ``(user_ids, item_ids)``.

        Raises:
            InputError: the file is missing or unreadable.

        Example:
            >>> import tempfile
            >>> folder = Path(tempfile.mkdtemp())
            >>> _ = from_pairs([["bob", "x"], ["amy", "y"]]).save_id_maps(folder)
            >>> user_ids, item_ids = InteractionData.load_id_maps(folder)
            >>> user_ids.tolist(), item_ids.tolist()
            (['amy', 'bob'], ['x', 'y'])
        """
        path = Path(directory) / ID_MAPS_FILE
        try:
            with np.load(path, allow_pickle=False) as archive:
                return archive["user_ids"], archive["item_ids"]
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except (OSError, ValueError, KeyError) as error:
            raise InputError(f"{path}: not a valid id map file ({error})") from None


def pair_union(*matrices: sp.spmatrix) -> sp.csr_matrix:
    """The pairs present in any of ``matrices`` (same shape), as a binary float32 CSR matrix.

    Example:
        >>> a = sp.csr_matrix([[1.0, 0.0], [0.0, 0.0]])
        >>> pair_union(a, sp.csr_matrix([[1.0, 1.0], [0.0, 0.0]])).toarray().tolist()
        [[1.0, 1.0], [0.0, 0.0]]
    """
    union = sp.csr_matrix(matrices[0], dtype=np.float32, copy=True)
    for matrix in matrices[1:]:
        union = union + sp.csr_matrix(matrix, dtype=np.float32)
    union = sp.csr_matrix(union)
    union.sum_duplicates()
    union.eliminate_zeros()
    union.data[:] = 1.0
    union.sort_indices()
    return union


def from_pairs(
    train_pairs,
    test_pairs=None,
    valid_pairs=None,
    name: str = "",
) -> InteractionData:
    """Builds ``InteractionData`` from ``[n, 2]`` arrays of raw ``(user, item)`` ids.

    The id maps cover the union of all given pairs, sorted numerically when every id is
    an integer (so ids that are exactly ``0..max`` map to themselves) and
    lexicographically otherwise. Duplicate pairs collapse to a single 1.

    Args:
        train_pairs: raw train pairs (array-like ``[n, 2]``, integer or string ids).
        test_pairs: raw test pairs, or ``None`` for an empty test matrix.
        valid_pairs: raw validation pairs, or ``None`` for an empty one.
        name: label stored on the result.

    Returns:
        The ``InteractionData``.

    Raises:
        ValueError: an array is not ``[n, 2]`` or holds ids that are neither integers nor
            strings.

    Example:
        >>> data = from_pairs(np.array([[0, 0], [1, 2]]), np.array([[1, 1]]))
        >>> data.num_users, data.num_items, data.test.nnz
        (2, 3, 1)
    """
    labelled = (("train", train_pairs), ("test", test_pairs), ("valid", valid_pairs))
    parts = [_as_pairs(pairs, label) for label, pairs in labelled]
    if not all(p.dtype.kind in "iu" for p in parts if len(p)):
        parts = [p.astype(str) for p in parts]
    train, test, valid = ((p[:, 0], p[:, 1]) for p in parts)
    return from_columns(train, test, valid, name=name)


# Long by its docstring only: the body is one pass over the three splits.
def from_columns(
    train: tuple[Any, Any],
    test: tuple[Any, Any] | None = None,
    valid: tuple[Any, Any] | None = None,
    name: str = "",
    train_time: np.ndarray | None = None,
    test_time: np.ndarray | None = None,
    valid_time: np.ndarray | None = None,
) -> InteractionData:
    """Builds ``InteractionData`` from ``(users, items)`` columns of raw ids, per split.

    The same maps as :func:`from_pairs`, built without ever holding the ``n`` raw ids as
    one numpy string array: columns may be numpy arrays or pyarrow string arrays (as
    :func:`~tfdirectspec.data.readers.read_columns` returns them), and ids become codes
    by hashing (:func:`~tfdirectspec.data.id_maps.encode_ids`). If any column holds
    strings, integer columns are mapped as their decimal text.

    Args:
        train: ``(users, items)`` of the train pairs (equal lengths).
        test: those of the test pairs, or ``None`` for an empty test matrix.
        valid: those of the validation pairs, or ``None``.
        name: label stored on the result.
        train_time: epoch seconds of each train pair (same length), or ``None``; given
            for train (and for test/valid when those are given), the result keeps each
            split's times, a duplicate pair its earliest.
        test_time: those of the test pairs.
        valid_time: those of the validation pairs.

    Returns:
        The ``InteractionData``.

    Example:
        >>> data = from_columns((np.array([10, 11]), np.array([5, 5])), (np.array([12]), [6]))
        >>> data.user_ids.tolist(), data.item_ids.tolist(), data.test.nnz
        ([10, 11, 12], [5, 6], 1)
    """
    splits = [
        _as_columns(split, label)
        for label, split in (("train", train), ("test", test), ("valid", valid))
    ]
    if not all(_is_integer(c) for split in splits for c in split if len(c)):
        splits = [tuple(_as_text(c) for c in split) for split in splits]
    user_codes, user_ids = encode_ids([users for users, _ in splits])
    item_codes, item_ids = encode_ids([items for _, items in splits])
    shape = (len(user_ids), len(item_ids))
    given_times = (train_time, test_time, valid_time)
    timed = train_time is not None and all(
        t is not None or split is None
        for t, split in zip(given_times, (train, test, valid), strict=True)
    )
    matrices, times = [], []
    for rows, cols, split_time in zip(user_codes, item_codes, given_times, strict=True):
        if timed:
            split_time = np.zeros(len(rows)) if split_time is None else split_time
            matrix, first_times = _earliest_csr(rows, cols, np.asarray(split_time), shape)
        else:
            matrix, first_times = _binary_csr(rows, cols, shape), None
        matrices.append(matrix)
        times.append(first_times)
    return InteractionData(
        train=matrices[0],
        test=matrices[1],
        valid=matrices[2],
        user_ids=user_ids,
        item_ids=item_ids,
        name=name,
        train_time=times[0],
        test_time=times[1],
        valid_time=times[2],
    )


def _sorted_axis_ids(label: str, ids: Any, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts one axis's raw ids (default ``0..size-1``), and the sorted ids.

    Raises:
        InputError: not ``size`` ids, ids neither integers nor strings, or repeated ids.
    """
    ids = np.arange(size, dtype=np.int64) if ids is None else np.asarray(ids)
    if ids.ndim != 1 or len(ids) != size:
        raise InputError(f"{label}: expected {size} ids, got shape {ids.shape}")
    if ids.dtype.kind not in "iuUSO":
        raise InputError(f"{label}: ids must be integers or strings, got {ids.dtype}")
    ids = ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(str)
    if len(np.unique(ids)) != size:
        raise InputError(f"{label}: ids repeat")
    order = np.argsort(ids, kind="stable")
    return order, ids[order]


def _as_columns(split: tuple[Any, Any] | None, label: str) -> tuple[Any, Any]:
    """``split`` as two columns of equal length (empty ``int64`` ones for ``None``)."""
    if split is None:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    users, items = (_as_column(column, label) for column in split)
    if len(users) != len(items):
        raise ValueError(f"{label} users and items differ in length: {len(users)} != {len(items)}")
    return users, items


def _as_column(column: Any, label: str) -> Any:
    """A 1-D numpy array of integers or strings, or a pyarrow array of them (kept as is)."""
    if hasattr(column, "type") and hasattr(column, "null_count"):  # pyarrow, not imported
        import pyarrow as pa

        kind = column.type
        if not (
            pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)
        ):
            raise ValueError(f"{label} ids must be integers or strings, got Arrow type {kind}")
        if column.null_count:
            raise ValueError(f"{label} ids hold {column.null_count} nulls")
        return column
    array = np.asarray(column)
    if array.ndim != 1:
        raise ValueError(f"{label} columns must be 1-D, got shape {array.shape}")
    if array.size == 0 and array.dtype.kind not in "iuUS":
        return np.empty(0, dtype=np.int64)
    if array.dtype.kind == "O":
        array = array.astype(str)
    if array.dtype.kind not in "iuUS":
        raise ValueError(f"{label} ids must be integers or strings, got dtype {array.dtype}")
    return array


def _is_integer(column: Any) -> bool:
    if isinstance(column, np.ndarray):
        return column.dtype.kind in "iu"
    import pyarrow as pa

    return pa.types.is_integer(column.type)


def _as_text(column: Any) -> Any:
    """Integer ids as their decimal text; strings unchanged."""
    if not _is_integer(column):
        return column
    if isinstance(column, np.ndarray):
        return column.astype(str)
    import pyarrow as pa

    return column.cast(pa.string())


def _as_pairs(pairs, label: str) -> np.ndarray:
    """Returns ``pairs`` as a ``[n, 2]`` integer or string array (empty when ``None``)."""
    if pairs is None:
        return np.empty((0, 2), dtype=np.int64)
    array = np.asarray(pairs)
    if array.size == 0:
        return array.reshape(0, 2).astype(np.int64 if array.dtype.kind in "fb" else array.dtype)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{label} pairs must have shape [n, 2], got {array.shape}")
    if array.dtype.kind == "O":
        array = array.astype(str)
    if array.dtype.kind not in "iuUS":
        raise ValueError(f"{label} ids must be integers or strings, got dtype {array.dtype}")
    return array


def _binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A canonical float32 CSR matrix with a 1 at every ``(row, col)``, duplicates merged."""
    ones = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_matrix((ones, (rows, cols)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _earliest_csr(
    rows: np.ndarray, cols: np.ndarray, times: np.ndarray, shape: tuple[int, int]
) -> tuple[sp.csr_matrix, np.ndarray]:
    """:func:`_binary_csr` plus each pair's earliest time, aligned with the CSR entries."""
    if len(times) != len(rows):
        raise ValueError(f"{len(times)} times for {len(rows)} pairs")
    rows, cols = rows.astype(np.int64), cols.astype(np.int64)
    keys = rows * max(shape[1], 1) + cols
    order = np.lexsort((times, keys))  # by pair, earliest first
    sorted_keys = keys[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    kept = order[first]  # one entry per pair, in (row, col) order: canonical CSR
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[kept], minlength=shape[0]), out=indptr[1:])
    matrix = sp.csr_matrix(
        (np.ones(len(kept), dtype=np.float32), cols[kept], indptr), shape=shape, dtype=np.float32
    )
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix, np.asarray(times, dtype=np.float64)[kept]


def _select_entries(
    matrix: sp.csr_matrix, rows: np.ndarray, keep: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """The stored entries of ``matrix`` where ``keep`` is True, still canonical.

    Filtering a canonical CSR matrix keeps rows and column indices sorted, so the
    result is built directly without a COO round trip.
    """
    indptr = np.zeros(shape[0] + 1, dtype=matrix.indptr.dtype)
    np.cumsum(np.bincount(rows[keep], minlength=shape[0]), out=indptr[1:])
    result = sp.csr_matrix(
        (matrix.data[keep], matrix.indices[keep], indptr), shape=shape, dtype=np.float32
    )
    result.has_sorted_indices = True
    return result


def _lookup(ids: np.ndarray, raw_ids) -> np.ndarray:
    """Indices of ``raw_ids`` in the sorted array ``ids``; ``-1`` where absent."""
    raw = np.asarray(raw_ids)
    flat = raw.reshape(-1)
    if ids.dtype.kind in "iu":
        flat, valid = _as_int64(flat)
    else:
        flat, valid = flat.astype(str), np.ones(flat.shape, dtype=bool)
    if len(ids) == 0:
        return np.full(raw.shape, -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(ids, flat), len(ids) - 1)
    found = valid & (ids[position] == flat)
    return np.where(found, position, -1).astype(np.int64).reshape(raw.shape)


def _as_int64(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer view of raw ids that may be strings; the mask marks convertible ones."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64), np.ones(values.shape, dtype=bool)
    out = np.zeros(values.shape, dtype=np.int64)
    valid = np.zeros(values.shape, dtype=bool)
    for k, value in enumerate(values.tolist()):
        try:
            number = int(str(value).strip())
        except ValueError:
            continue
        if abs(number) <= np.iinfo(np.int64).max:
            out[k], valid[k] = number, True
    return out, valid


def _plain_ids(ids: np.ndarray) -> np.ndarray:
    """Ids as a pickle-free array (object arrays become unicode strings)."""
    return ids.astype(str) if ids.dtype.kind == "O" else ids
