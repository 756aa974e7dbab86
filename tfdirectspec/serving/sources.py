"""The tables of a model to recommend from: a finished run directory or an export.

A run directory (``metrics.json``, ``model.keras``, ``id_maps.npz``, ``exclusions.npz``)
gives the trained tables, its id maps and its train ∪ valid pairs; an export
(``saved_models/NAME[/VERSION]``) gives the same from its SavedModel variables.
Either way the result is an :class:`~tfdirectspec.serving.module.ExportTables`.

Example:
    >>> import tempfile
    >>> from tfdirectspec.serving import ExportTables, export_tables
    >>> base = Path(tempfile.mkdtemp()) / "demo"
    >>> _ = export_tables(ExportTables.example(), base, k=2, warmup=False)
    >>> tables = read_tables(base)
    >>> tables.user_ids.tolist(), tables.exclude.toarray().tolist()
    ([10, 11], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tfdirectspec.serving.module import ExportTables


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run directory (it holds ``metrics.json``)."""
    from tfdirectspec.training.run_dir import METRICS_FILE

    return (Path(path) / METRICS_FILE).is_file()


def read_tables(model: str | os.PathLike) -> ExportTables:
    """The tables of a run directory or an export (base path: its latest version).

    Raises:
        InputError: neither a finished run nor an export at ``model``.
    """
    from tfdirectspec.serving.export import tables_from_run

    if is_run_dir(model):
        return tables_from_run(model)[0]
    return tables_from_export(model)


def tables_from_export(model: str | os.PathLike) -> ExportTables:
    """The tables, id maps and exclusions stored in an export's SavedModel variables."""
    import tensorflow as tf

    from tfdirectspec.serving.export import read_info
    from tfdirectspec.serving.versions import resolve_version_dir

    version_dir = resolve_version_dir(model)
    read_info(version_dir)  # a tfdirectspec export, or a one-line error
    served = tf.saved_model.load(str(version_dir))
    users, items = served.user_table.numpy(), served.item_table.numpy()
    indptr = served.exclude_indptr.numpy()
    indices = served.exclude_indices.numpy()
    exclude = sp.csr_matrix(
        (np.ones(len(indices), np.float32), indices, indptr), shape=(len(users), len(items))
    )
    return ExportTables(
        users, items, _ids(served.user_ids.numpy()), _ids(served.item_ids.numpy()), exclude
    )


def _ids(values: np.ndarray) -> np.ndarray:
    """Raw ids read from a variable: int64, or UTF-8 bytes made strings."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    return np.asarray([v.decode("utf-8") for v in values.tolist()], dtype=str)
