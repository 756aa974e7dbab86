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

The signatures are described in :mod:`tfdirectspec.serving.module`.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfdirectspec.errors import InputError
from tfdirectspec.json_output import to_json
from tfdirectspec.parameters import DEFAULT_K, ParameterError, check_ks
from tfdirectspec.serving import warmup as warmup_lib
from tfdirectspec.serving.fold_in import DEFAULT_L2, FOLD_IN_METHODS
from tfdirectspec.serving.module import SIGNATURES, ExportTables, build_module, id_dtype_name
from tfdirectspec.serving.versions import next_version
from tfdirectspec.serving.warmup import WARMUP_FILE

#: Folder of the TF Serving extras inside a version.
ASSETS_EXTRA = "assets.extra"
#: Export info file inside ``assets.extra``.
INFO_FILE = "tfdirectspec.json"
#: Version of the export info format.
INFO_FORMAT = 1


def check_target(target: str | os.PathLike) -> Path:
    """Refuses an export target that is a file (or under one)."""
    target = Path(target)
    for part in (target, *target.parents):
        if part.exists() and not part.is_dir():
            raise ParameterError("target", f"{part} exists and is not a directory")
    return target


def check_k(k: int, num_items: int) -> int:
    """``K`` must be in ``1..num_items``."""
    return check_ks(k, num_items, parameter="k")[0]


# Long by its docstring only: the body writes one staging folder and publishes it.
def export_tables(
    tables: ExportTables,
    target: str | os.PathLike,
    k: int = DEFAULT_K,
    info: dict[str, Any] | None = None,
    warmup: bool | None = None,
    model_name: str | None = None,
    fold_in: str = FOLD_IN_METHODS[0],
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
        fold_in: the fold-in method of ``recommend_for_items``
            (:mod:`tfdirectspec.serving.fold_in`).

    Returns:
        The new version folder, e.g. ``saved_models/NAME/1``.

    Raises:
        InputError: ``target`` is a file, or ``k`` is outside ``1..I``.

    Example:
        >>> from tfdirectspec.serving.module import ExportTables
        >>> tables = ExportTables.example()  # users 10, 11; items 100-102; seen: 10-100, 11-102
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> export_tables(tables, root / "demo", k=2, warmup=False).relative_to(root)
        PosixPath('demo/1')
        >>> next_version(root / "demo")  # the next export's version
        2
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
        module = build_module(tables, k, fold_in=fold_in)
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
        record = _info_record(tables, k, fold_in, info)
        (extra / INFO_FILE).write_text(to_json(record, indent=2) + "\n")
        return _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(target, ignore_errors=True)
        raise


def _info_record(
    tables: ExportTables, k: int, fold_in: str, info: dict[str, Any] | None
) -> dict[str, Any]:
    """The content of ``assets.extra/tfdirectspec.json``: the export's shape, ids and time."""
    return {
        "format": INFO_FORMAT,
        "k": k,
        "num_users": int(tables.user_table.shape[0]),
        "num_items": tables.num_items,
        "dim": int(tables.user_table.shape[1]),
        "user_id_dtype": id_dtype_name(tables.user_ids),
        "item_id_dtype": id_dtype_name(tables.item_ids),
        "signatures": list(SIGNATURES),
        "fold_in": {"method": fold_in, "l2": DEFAULT_L2},
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **(info or {}),
    }


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
    """Reads a finished run's tables, id maps and exclusions (the dataset is not read).

    Args:
        run_dir: a directory written by ``tfdirectspec train``.

    Returns:
        ``(tables, metrics)`` with ``metrics`` the run's ``metrics.json``.

    Raises:
        InputError: not a finished run, or its files do not agree with each other.
    """
    from tfdirectspec.training.run_dir import Run

    run = Run.open(run_dir)
    metrics = run.metrics()
    users, items = run.tables()
    user_ids, item_ids = run.id_maps()
    exclude = run.exclusions()
    if len(user_ids) != users.shape[0] or len(item_ids) != items.shape[0]:
        raise InputError(
            f"{run_dir}: model has {users.shape[0]} users × {items.shape[0]} items, "
            f"its id maps {len(user_ids)} × {len(item_ids)}"
        )
    if exclude.shape != (users.shape[0], items.shape[0]):
        raise InputError(f"{run_dir}: exclusions of shape {exclude.shape} do not match the model")
    return ExportTables(users, items, user_ids, item_ids, exclude), metrics


def export_run(
    run_dir: str | os.PathLike,
    target: str | os.PathLike,
    k: int = DEFAULT_K,
    warmup: bool | None = None,
    model_name: str | None = None,
    fold_in: str = FOLD_IN_METHODS[0],
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
        fold_in: see :func:`export_tables`.

    Returns:
        The new version folder.

    Example:
        >>> export_run("runs/mf", "saved_models/mf", k=20)  # doctest: +SKIP
        PosixPath('saved_models/mf/1')
    """
    from tfdirectspec.training.run_dir import Run

    run_dir = Path(run_dir)
    metrics = Run.open(run_dir).metrics()
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
    return export_tables(
        tables, target, k=k, info=info, warmup=warmup, model_name=model_name, fold_in=fold_in
    )


# -- TF Serving model config -----------------------------------------------------------
