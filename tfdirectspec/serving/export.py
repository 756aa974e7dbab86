"""Export a trained run as a TF Serving SavedModel (versioned, written atomically).

Layout written by :func:`export_tables` / :func:`export_run`::

    saved_models/NAME/                      # the model's base path for TF Serving
        1/                                  # integer versions, next free number
            saved_model.pb
            variables/
            assets.extra/
                tf_serving_warmup_requests  # PredictionLog records (TF Serving warm-up)
                tfdirectspec.json           # export info: K, id dtypes, source run, metrics
        2/ ...

A version is assembled in a hidden folder ``NAME/.export-*`` (TF Serving only
looks at folders whose names are integers) and renamed into place when it is
complete, so a server never sees a half-written version and an existing
version is never overwritten.

Signatures (``RAW`` is ``int64`` or ``string``, as the data's raw ids were):

=================== =============================== =========================================
signature           inputs                          outputs
=================== =============================== =========================================
``serving_default`` ``user_ids`` RAW ``[-1]``       ``item_ids`` RAW ``[-1, K]``,
                                                    ``scores`` float32 ``[-1, K]``,
                                                    ``known_user`` bool ``[-1]``
``user_embeddings`` ``user_ids`` RAW ``[-1]``       ``embeddings`` float32 ``[-1, d]``,
                                                    ``known_user`` bool ``[-1]``
``item_embeddings`` ``item_ids`` RAW ``[-1]``       ``embeddings`` float32 ``[-1, d]``,
                                                    ``known_item`` bool ``[-1]``
``score``           ``user_ids`` RAW ``[-1]``,      ``scores`` float32 ``[-1]``,
                    ``item_ids`` RAW ``[-1]``       ``known_user``, ``known_item`` bool ``[-1]``
=================== =============================== =========================================

Semantics:

* ``serving_default``: the top ``K`` items by ``user · item`` for each user, the
  user's training (and validation) items excluded, best first (ties: lower
  item index first, as ``tf.math.top_k``). A user with fewer than ``K`` unseen
  items gets ``-inf`` scores in the slots past them. An **unknown user id**
  is not an error: its row holds the ``K`` most popular items (by training
  interactions, which are all unseen for a new user) with their training
  interaction counts as ``scores``, and ``known_user`` is false.
* ``user_embeddings`` / ``item_embeddings``: the scoring vectors (for
  LightGCN, the propagated ones); unknown ids give a zero vector and a false
  flag.
* ``score``: ``user_ids[j] · item_ids[j]`` for each position ``j`` (the two
  inputs must have the same length, else the call fails with
  ``INVALID_ARGUMENT``). Training items are not masked. An **unknown user or
  item id** gives ``NaN`` and a false ``known_user``/``known_item`` flag.

The exclusion lists live in the SavedModel in sparse (CSR) form; a request
gathers its users' rows and scatters ``-inf`` into its own
``[users in request, items]`` score block. No dense users × items matrix is
ever built.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.errors import InputError
from tfdirectspec.serving import warmup as warmup_lib
from tfdirectspec.serving.warmup import WARMUP_FILE

#: Signature names of an export, ``serving_default`` first.
SIGNATURES = ("serving_default", "user_embeddings", "item_embeddings", "score")
#: Folder of the TF Serving extras inside a version.
ASSETS_EXTRA = "assets.extra"
#: Export info file inside ``assets.extra``.
INFO_FILE = "tfdirectspec.json"
#: Model-server config file written beside the model folders.
MODELS_CONFIG = "models.config"
#: Default number of recommendations per user.
DEFAULT_K = 20
#: Version of the export info format.
INFO_FORMAT = 1


@dataclasses.dataclass(frozen=True, eq=False)
class ExportTables:
    """Everything an export holds, in NumPy form.

    Attributes:
        user_table: ``[U, d]`` float32 scoring vectors of the users.
        item_table: ``[I, d]`` float32 scoring vectors of the items.
        user_ids: ``[U]`` raw user ids (index → raw id), int64 or str.
        item_ids: ``[I]`` raw item ids.
        exclude: ``U × I`` CSR matrix of the items never recommended to a user
            (train and validation interactions).

    Example:
        >>> tables = ExportTables(users, items, data.user_ids, data.item_ids, data.train)
    """

    user_table: np.ndarray
    item_table: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    exclude: sp.csr_matrix

    def __post_init__(self) -> None:
        users, items = self.user_table, self.item_table
        if users.ndim != 2 or items.ndim != 2 or users.shape[1] != items.shape[1]:
            raise ValueError(f"tables must be [U, d] and [I, d], got {users.shape}, {items.shape}")
        if len(self.user_ids) != users.shape[0] or len(self.item_ids) != items.shape[0]:
            raise ValueError(
                f"id maps have {len(self.user_ids)} users and {len(self.item_ids)} items, "
                f"the tables {users.shape[0]} and {items.shape[0]}"
            )
        if self.exclude.shape != (users.shape[0], items.shape[0]):
            raise ValueError(f"exclude matrix has shape {self.exclude.shape}")

    @property
    def num_items(self) -> int:
        """Number of items ``I``."""
        return int(self.item_table.shape[0])

    def popularity(self) -> np.ndarray:
        """Users who interacted with each item (the unknown-user fallback ranks by it)."""
        seen = sp.csr_matrix(self.exclude, copy=True)
        seen.sum_duplicates()
        seen.eliminate_zeros()
        return np.bincount(seen.indices, minlength=self.num_items).astype(np.int64)


def id_dtype_name(ids: np.ndarray) -> str:
    """``"int64"`` for integer raw ids, ``"string"`` otherwise."""
    return "int64" if ids.dtype.kind in "iu" else "string"


def build_module(tables: ExportTables, k: int) -> RecommenderModule:
    """The ``tf.Module`` with the four serving functions (see the module doc).

    Args:
        tables: the export's content.
        k: recommendations per user in ``serving_default`` (``1..I``).

    Example:
        >>> module = build_module(tables, k=20)
        >>> module.serving_default(tf.constant([10, 11], tf.int64))["item_ids"].shape
        TensorShape([2, 20])
    """
    return RecommenderModule(tables, k)


class RecommenderModule(tf.Module):
    """Top-K recommendation, embeddings and scores over fixed tables.

    The functions have explicit input signatures (dtype of the raw ids,
    ``[None]`` batches), so each traces once and saves as one signature.

    Args:
        tables: the export's content (:class:`ExportTables`).
        k: recommendations per user.
    """

    def __init__(self, tables: ExportTables, k: int) -> None:
        super().__init__(name="tfdirectspec_recommender")
        num_users, dim = tables.user_table.shape
        self.k = int(k)
        self.num_users, self.num_items, self.dim = int(num_users), tables.num_items, int(dim)
        self.user_table = tf.Variable(
            tables.user_table.astype(np.float32), trainable=False, name="user_table"
        )
        self.item_table = tf.Variable(
            tables.item_table.astype(np.float32), trainable=False, name="item_table"
        )
        self.user_ids = tf.Variable(_raw(tables.user_ids), trainable=False, name="user_ids")
        self.item_ids = tf.Variable(_raw(tables.item_ids), trainable=False, name="item_ids")
        exclude = sp.csr_matrix(tables.exclude)
        exclude.sum_duplicates()
        self.exclude_indptr = tf.Variable(
            exclude.indptr.astype(np.int64), trainable=False, name="exclude_indptr"
        )
        # int32 columns halve the stored size; every item index fits.
        self.exclude_indices = tf.Variable(
            exclude.indices.astype(np.int32), trainable=False, name="exclude_indices"
        )
        popularity = tables.popularity()
        popular = np.argsort(-popularity, kind="stable")[: self.k]
        self.popular_items = tf.Variable(
            popular.astype(np.int32), trainable=False, name="popular_items"
        )
        self.popular_scores = tf.Variable(
            popularity[popular].astype(np.float32), trainable=False, name="popular_scores"
        )
        self.user_index = _index_table(tables.user_ids, "user_index")
        self.item_index = _index_table(tables.item_ids, "item_index")

        users = tf.TensorSpec([None], _tf_dtype(tables.user_ids), name="user_ids")
        items = tf.TensorSpec([None], _tf_dtype(tables.item_ids), name="item_ids")
        self.serving_default = tf.function(self._recommend, input_signature=[users])
        self.user_embeddings = tf.function(self._user_embeddings, input_signature=[users])
        self.item_embeddings = tf.function(self._item_embeddings, input_signature=[items])
        self.score = tf.function(self._score, input_signature=[users, items])

    def signatures(self) -> dict[str, Any]:
        """The four signature functions by name, for ``tf.saved_model.save``."""
        return {name: getattr(self, name) for name in SIGNATURES}

    def _lookup(self, table, ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Row indices (0 for unknown ids, so gathers stay valid) and the known flags."""
        index = table.lookup(ids)
        known = index >= 0
        return tf.where(known, index, tf.zeros_like(index)), known

    def _recommend(self, user_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        index, known = self._lookup(self.user_index, user_ids)
        scores = tf.matmul(tf.gather(self.user_table, index), self.item_table, transpose_b=True)
        # The request's rows of the exclusion CSR as (row in request, item) pairs;
        # unknown users exclude nothing (their row is replaced below anyway).
        start = tf.gather(self.exclude_indptr, index)
        stop = tf.where(known, tf.gather(self.exclude_indptr, index + 1), start)
        positions = tf.ragged.range(start, stop)
        rows = positions.value_rowids()
        cols = tf.cast(tf.gather(self.exclude_indices, positions.flat_values), tf.int64)
        scores = tf.tensor_scatter_nd_update(
            scores,
            tf.stack([rows, cols], axis=1),
            tf.fill(tf.shape(rows), tf.constant(-np.inf, tf.float32)),
        )
        top_scores, top_index = tf.math.top_k(scores, k=self.k)
        known_rows = known[:, None]
        top_index = tf.where(known_rows, top_index, self.popular_items[None, :])
        top_scores = tf.where(known_rows, top_scores, self.popular_scores[None, :])
        return {
            "item_ids": tf.gather(self.item_ids, top_index),
            "scores": top_scores,
            "known_user": known,
        }

    def _user_embeddings(self, user_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        index, known = self._lookup(self.user_index, user_ids)
        vectors = tf.gather(self.user_table, index) * tf.cast(known, tf.float32)[:, None]
        return {"embeddings": vectors, "known_user": known}

    def _item_embeddings(self, item_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        index, known = self._lookup(self.item_index, item_ids)
        vectors = tf.gather(self.item_table, index) * tf.cast(known, tf.float32)[:, None]
        return {"embeddings": vectors, "known_item": known}

    def _score(self, user_ids: tf.Tensor, item_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        tf.debugging.assert_equal(
            tf.size(user_ids),
            tf.size(item_ids),
            message="score: user_ids and item_ids must have the same length",
        )
        user_index, known_user = self._lookup(self.user_index, user_ids)
        item_index, known_item = self._lookup(self.item_index, item_ids)
        dots = tf.reduce_sum(
            tf.gather(self.user_table, user_index) * tf.gather(self.item_table, item_index),
            axis=1,
        )
        nan = tf.fill(tf.shape(dots), tf.constant(np.nan, tf.float32))
        return {
            "scores": tf.where(tf.logical_and(known_user, known_item), dots, nan),
            "known_user": known_user,
            "known_item": known_item,
        }


def _tf_dtype(ids: np.ndarray) -> tf.DType:
    return tf.int64 if ids.dtype.kind in "iu" else tf.string


def _raw(ids: np.ndarray) -> np.ndarray:
    """Raw ids as TensorFlow takes them: int64, or Python strings (object array)."""
    return ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(str).astype(object)


def _index_table(ids: np.ndarray, name: str) -> tf.lookup.StaticHashTable:
    """Raw id -> row index hash table (-1 for unknown ids)."""
    keys = tf.constant(_raw(ids), dtype=_tf_dtype(ids))
    values = tf.range(len(ids), dtype=tf.int64)
    initializer = tf.lookup.KeyValueTensorInitializer(keys, values)
    return tf.lookup.StaticHashTable(initializer, default_value=-1, name=name)


# -- versions and atomic writes ---------------------------------------------------


def list_versions(model_dir: str | os.PathLike) -> list[int]:
    """The integer version folders of a model base path, ascending."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir: str | os.PathLike) -> int:
    """The next free version number: one above the highest existing (1 for none).

    Any entry named by an integer counts (a stray file too), so the number is free.
    """
    model_dir = Path(model_dir)
    taken = (
        [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    )
    return max(taken, default=0) + 1


def resolve_version_dir(path: str | os.PathLike, version: int | None = None) -> Path:
    """The SavedModel folder of ``path``: a version folder, or a base path's latest.

    Args:
        path: ``saved_models/NAME`` (latest version) or ``saved_models/NAME/VERSION``.
        version: a version to pick under a base path.

    Raises:
        InputError: no SavedModel there.

    Example:
        >>> resolve_version_dir("saved_models/citeulike-mf-directspec-plus")  # doctest: +SKIP
        PosixPath('saved_models/citeulike-mf-directspec-plus/1')
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"--model: {path}: no such directory")
    if (path / "saved_model.pb").is_file() and version is None:
        return path
    versions = list_versions(path)
    if not versions:
        raise InputError(f"--model: {path}: no SavedModel and no version folders in it")
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise InputError(f"--model: {path} has no version {chosen} (versions: {versions})")
    target = path / str(chosen)
    if not (target / "saved_model.pb").is_file():
        raise InputError(f"--model: {target}: no saved_model.pb")
    return target


def check_target(target: str | os.PathLike) -> Path:
    """Refuses an export target that is a file (or under one)."""
    target = Path(target)
    for part in (target, *target.parents):
        if part.exists() and not part.is_dir():
            raise InputError(f"--to: {part} exists and is not a directory")
    return target


def check_k(k: int, num_items: int) -> int:
    """``K`` must be in ``1..num_items``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"--k must be a positive integer, got {k!r}")
    if k > num_items:
        raise InputError(f"--k {k} exceeds the number of items ({num_items})")
    return int(k)


def export_tables(
    tables: ExportTables,
    target: str | os.PathLike,
    k: int = DEFAULT_K,
    info: dict[str, Any] | None = None,
    warmup: bool | None = None,
    model_name: str | None = None,
) -> Path:
    """Writes ``tables`` as the next version of the model base path ``target``.

    Args:
        tables: the content.
        target: the model's base path, e.g. ``saved_models/NAME`` (created if missing).
        k: recommendations per user of ``serving_default``.
        info: extra JSON-able fields for ``assets.extra/tfdirectspec.json``.
        warmup: write ``assets.extra/tf_serving_warmup_requests``; ``None`` writes it
            when ``tensorflow-serving-api`` is installed, ``True`` requires it.
        model_name: the name the server knows the model by (the warm-up requests'
            ``model_spec.name``); default: the folder name of ``target``.

    Returns:
        The new version folder, e.g. ``saved_models/NAME/1``.

    Raises:
        InputError: ``target`` is a file, or ``k`` is outside ``1..I``.

    Example:
        >>> export_tables(tables, "saved_models/demo", k=20)  # doctest: +SKIP
        PosixPath('saved_models/demo/1')
    """
    target = check_target(target)
    k = check_k(k, tables.num_items)
    if warmup is None:
        warmup = warmup_lib.serving_api_available()
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target))
    # mkdtemp makes the folder private (0700); the server may run as another user.
    staging.chmod(0o755)
    try:
        module = build_module(tables, k)
        tf.saved_model.save(module, str(staging), signatures=module.signatures())
        extra = staging / ASSETS_EXTRA
        extra.mkdir(exist_ok=True)
        if warmup:
            warmup_lib.write_warmup_requests(
                extra / WARMUP_FILE,
                model_name=model_name or target.name,
                user_ids=tables.user_ids,
                item_ids=tables.item_ids,
            )
        record = {
            "format": INFO_FORMAT,
            "k": k,
            "num_users": int(tables.user_table.shape[0]),
            "num_items": tables.num_items,
            "dim": int(tables.user_table.shape[1]),
            "user_id_dtype": id_dtype_name(tables.user_ids),
            "item_id_dtype": id_dtype_name(tables.item_ids),
            "signatures": list(SIGNATURES),
            "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **(info or {}),
        }
        (extra / INFO_FILE).write_text(json.dumps(record, indent=2) + "\n")
        return _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(target, ignore_errors=True)
        raise


def _publish(staging: Path, target: Path) -> Path:
    """Renames the complete ``staging`` folder to the next free version."""
    for _ in range(100):
        final = target / str(next_version(target))
        if final.exists():  # a concurrent export took the number (or a stray file)
            continue
        try:
            os.rename(staging, final)
        except OSError:
            if final.exists():
                continue
            raise
        return final
    raise RuntimeError(f"{target}: could not find a free version number")


def read_info(version_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``assets.extra/tfdirectspec.json`` record of an export version."""
    path = Path(version_dir) / ASSETS_EXTRA / INFO_FILE
    if not path.is_file():
        raise InputError(
            f"{version_dir}: not a tfdirectspec export (no {ASSETS_EXTRA}/{INFO_FILE})"
        )
    return json.loads(path.read_text())


# -- from a run directory -----------------------------------------------------------


def tables_from_run(run_dir: str | os.PathLike) -> tuple[ExportTables, dict[str, Any]]:
    """Reads a finished run's tables, id maps and exclusions.

    Args:
        run_dir: a directory written by ``tfdirectspec train``.

    Returns:
        ``(tables, metrics)`` with ``metrics`` the run's ``metrics.json``.

    Raises:
        InputError: not a finished run, or the run's data does not match its model.
    """
    from tfdirectspec.data import InteractionData
    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.run_dir import load_model, read_metrics
    from tfdirectspec.training.trainer import load_data

    metrics = read_metrics(run_dir)
    config = TrainConfig().updated(metrics["config"], f"{run_dir}/metrics.json")
    model = load_model(run_dir)
    user_ids, item_ids = InteractionData.load_id_maps(run_dir)
    data = load_data(config)
    users, items = (np.asarray(t) for t in model.tables())
    if (users.shape[0], items.shape[0]) != (data.num_users, data.num_items):
        raise InputError(
            f"{run_dir}: model has {users.shape[0]} users × {items.shape[0]} items, "
            f"its data {data.num_users} × {data.num_items}"
        )
    if len(user_ids) != data.num_users or len(item_ids) != data.num_items:
        raise InputError(f"{run_dir}: id maps do not match the run's data")
    exclude = data.train + data.valid if data.valid.nnz else data.train
    exclude = sp.csr_matrix(exclude)
    exclude.sum_duplicates()
    tables = ExportTables(users, items, user_ids, item_ids, exclude)
    return tables, metrics


def export_run(
    run_dir: str | os.PathLike,
    target: str | os.PathLike,
    k: int = DEFAULT_K,
    warmup: bool | None = None,
    model_name: str | None = None,
) -> Path:
    """Exports a finished run directory as the next version of ``target``.

    Bad input fails before anything is written: a directory that is not a
    finished run, a ``target`` that is a file, ``k`` above the item count.

    Args:
        run_dir: a directory written by ``tfdirectspec train``.
        target: the model base path, e.g. ``saved_models/NAME``.
        k: recommendations per user.
        warmup: see :func:`export_tables`.
        model_name: see :func:`export_tables`.

    Returns:
        The new version folder.

    Example:
        >>> export_run("runs/mf", "saved_models/mf", k=20)  # doctest: +SKIP
        PosixPath('saved_models/mf/1')
    """
    from tfdirectspec.training.run_dir import read_metrics

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    metrics = read_metrics(run_dir)
    check_target(target)
    num_items = (metrics.get("data") or {}).get("items")
    if num_items is not None:
        check_k(k, int(num_items))  # fail fast, before loading model and data
    tables, metrics = tables_from_run(run_dir)
    info = {
        "source_run": str(run_dir),
        "config": metrics.get("config"),
        "data": metrics.get("data"),
        "test": metrics.get("test"),
    }
    return export_tables(tables, target, k=k, info=info, warmup=warmup, model_name=model_name)


# -- TF Serving model config -----------------------------------------------------------


def model_dirs(root: str | os.PathLike) -> list[Path]:
    """Model base paths under ``root``: folders with a version holding ``saved_model.pb``."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            if any((child / str(v) / "saved_model.pb").is_file() for v in list_versions(child)):
                found.append(child)
    return found


def write_models_config(root: str | os.PathLike, base_path: str = "/models") -> Path:
    """Writes ``root/models.config`` (``--model_config_file``) listing every model in ``root``.

    Args:
        root: folder of model base paths, e.g. ``saved_models``.
        base_path: where ``root`` is mounted inside the server's container.

    Returns:
        The written file.

    Example:
        >>> write_models_config("saved_models")  # doctest: +SKIP
        PosixPath('saved_models/models.config')
    """
    root = Path(root)
    lines = ["model_config_list {"]
    for model in model_dirs(root):
        lines += [
            "  config {",
            f'    name: "{model.name}"',
            f'    base_path: "{base_path.rstrip("/")}/{model.name}"',
            '    model_platform: "tensorflow"',
            "  }",
        ]
    lines.append("}")
    path = root / MODELS_CONFIG
    tmp = root / f".{MODELS_CONFIG}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


# -- reading an export back ------------------------------------------------------------


def parse_ids(values: list[str] | np.ndarray, dtype_name: str, flag: str = "--user") -> np.ndarray:
    """Raw ids typed on a command line, converted to the export's id dtype.

    Raises:
        InputError: an id that is not an integer for an export with integer ids.
    """
    if dtype_name != "int64":
        return np.asarray([str(v) for v in values], dtype=object)
    out = []
    for value in values:
        try:
            out.append(int(str(value).strip()))
        except ValueError:
            raise InputError(
                f"{flag}: {value!r} is not an integer (this model's ids are integers)"
            ) from None
    return np.asarray(out, dtype=np.int64)


def recommend(
    model: str | os.PathLike, users: list[str] | np.ndarray, k: int | None = None
) -> tuple[Path, list[dict[str, Any]]]:
    """Top ``k`` items for raw user ids from an export, via its ``serving_default`` signature.

    Args:
        model: ``saved_models/NAME`` (latest version) or ``saved_models/NAME/VERSION``.
        users: raw user ids (strings are converted to the export's id dtype).
        k: items per user, at most the export's ``K`` (default: 10, or ``K`` if smaller).

    Returns:
        ``(version_dir, [{"user", "known_user", "items", "scores"}, ...])``.

    Raises:
        InputError: no export at ``model``, a bad id, or ``k`` above the export's K.

    Example:
        >>> recommend("saved_models/citeulike-mf-directspec-plus", ["42"], k=3)  # doctest: +SKIP
    """
    version_dir = resolve_version_dir(model)
    info = read_info(version_dir)
    if k is None:
        k = min(10, info["k"])
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"-k must be a positive integer, got {k!r}")
    if k > info["k"]:
        raise InputError(f"-k {k} exceeds the export's K={info['k']} (re-export with `--k {k}`)")
    ids = parse_ids(users, info["user_id_dtype"])
    served = tf.saved_model.load(str(version_dir))
    dtype = tf.int64 if info["user_id_dtype"] == "int64" else tf.string
    out = served.signatures["serving_default"](user_ids=tf.constant(ids, dtype=dtype))
    items, scores = out["item_ids"].numpy()[:, :k], out["scores"].numpy()[:, :k]
    known = out["known_user"].numpy()
    results = []
    for row, user in enumerate(ids.tolist()):
        results.append(
            {
                "user": _plain_id(user),
                "known_user": bool(known[row]),
                "items": [_plain_id(v) for v in items[row].tolist()],
                "scores": [float(v) for v in scores[row]],
            }
        )
    return version_dir, results


def _plain_id(value: Any) -> int | str:
    """A raw id as JSON takes it."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value if isinstance(value, str) else int(value)
