"""Recommendations read from an export through its signatures, for ``tfdirectspec recommend``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfdirectspec.parameters import ParameterError, check_ks
from tfdirectspec.serving.export import read_info
from tfdirectspec.serving.versions import resolve_version_dir


def parse_ids(
    values: list[str] | np.ndarray, dtype_name: str, parameter: str = "user"
) -> np.ndarray:
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
            raise ParameterError(
                parameter, f"{value!r} is not an integer (this model's ids are integers)"
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
        >>> import tempfile
        >>> from tfdirectspec.serving import ExportTables, export_tables
        >>> base = Path(tempfile.mkdtemp()) / "demo"
        >>> # users 10, 11; items 100-102; each has seen one item (10: 100, 11: 102)
        >>> _ = export_tables(ExportTables.example(), base, k=2, warmup=False)
        >>> _, results = recommend(base, ["11", "7"], k=2)  # 7 is unknown
        >>> results[0]
        {'user': 11, 'known_user': True, 'items': [101, 100], 'scores': [0.5, 0.0]}
        >>> results[1]["known_user"], results[1]["items"]  # the most popular items
        (False, [100, 102])
    """
    version_dir = resolve_version_dir(model)
    info = read_info(version_dir)
    k = _served_k(k, info)
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


def recommend_for_items(
    model: str | os.PathLike, items: list[str] | np.ndarray, k: int | None = None
) -> tuple[Path, dict[str, Any]]:
    """Top ``k`` items for a new user given as item ids, via ``recommend_for_items``.

    The user is folded in by the export (:mod:`tfdirectspec.serving.fold_in`, the method
    it was exported with) and the given items are never recommended.

    Args:
        model: ``saved_models/NAME`` (latest version) or ``saved_models/NAME/VERSION``.
        items: raw item ids the user touched (every one must be known to the export).
        k: items to return, at most the export's ``K`` (default: 10, or ``K`` if smaller).

    Returns:
        ``(version_dir, {"given", "items", "scores"})``.

    Raises:
        InputError: an unknown item id (named), an export without the signature, or a
            bad ``k``.

    Example:
        >>> import tempfile
        >>> from tfdirectspec.serving import ExportTables, export_tables
        >>> base = Path(tempfile.mkdtemp()) / "demo"
        >>> _ = export_tables(ExportTables.example(), base, k=2, warmup=False)
        >>> _, result = recommend_for_items(base, ["100"], k=2)  # has touched item 100
        >>> result["items"]
        [101, 102]
    """
    version_dir = resolve_version_dir(model)
    info = read_info(version_dir)
    if "recommend_for_items" not in info.get("signatures", []):
        raise ParameterError(
            "items",
            f"{version_dir} has no recommend_for_items signature (exported by an older "
            "version; export the run again)",
        )
    k = _served_k(k, info)
    ids = parse_ids(items, info["item_id_dtype"], parameter="items")
    served = tf.saved_model.load(str(version_dir))
    dtype = tf.int64 if info["item_id_dtype"] == "int64" else tf.string
    known = served.signatures["item_embeddings"](item_ids=tf.constant(ids, dtype=dtype))
    unknown = np.flatnonzero(~known["known_item"].numpy())
    if unknown.size:
        raise ParameterError("items", f"unknown item id {_plain_id(ids[unknown[0]])!r}")
    out = served.signatures["recommend_for_items"](item_ids=tf.constant(ids[None, :], dtype=dtype))
    return version_dir, {
        "given": [_plain_id(v) for v in ids.tolist()],
        "items": [_plain_id(v) for v in out["item_ids"].numpy()[0, :k].tolist()],
        "scores": [float(v) for v in out["scores"].numpy()[0, :k]],
    }


def _served_k(k: int | None, info: dict) -> int:
    """``k`` checked against the export's K (default: 10, or K if smaller)."""
    if k is None:
        k = min(10, info["k"])
    k = check_ks(k, parameter="k")[0]
    if k > info["k"]:
        raise ParameterError(
            "k", f"{k} exceeds the export's K={info['k']} (re-export with k >= {k})"
        )
    return k
