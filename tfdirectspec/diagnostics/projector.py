"""Embedding export for the TensorBoard projector (``tfdirectspec train --projector``).

Writes three files at the top of a TensorBoard logdir, which the projector plugin reads
without any checkpoint:

- ``projector_embeddings.tsv``: one row per user, then one per item, ``d`` tab-separated
  floats (the raw scoring tables, not normalised);
- ``projector_metadata.tsv``: a header ``kind<TAB>id`` and, per row, ``user`` or ``item``
  and the raw id (or the index when no raw ids are known);
- ``projector_config.pbtxt``: the projector config pointing at the two files.

Text files keep the export readable and independent of TensorFlow's checkpoint format;
they grow as ``(U + I) · d`` numbers (about 15 MB for CiteULike at ``d = 64``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from tfdirectspec.backend import require_tensorflow_backend

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now

__all__ = ["ProjectorExport", "export_projector"]

EMBEDDINGS_FILE = "projector_embeddings.tsv"
METADATA_FILE = "projector_metadata.tsv"
TENSOR_NAME = "users_and_items"


def _clean(value) -> str:
    """A metadata cell: tabs and newlines would break the TSV."""
    return str(value).replace("\t", " ").replace("\n", " ")


def export_projector(
    logdir: str | Path,
    users,
    items,
    user_ids: Sequence | np.ndarray | None = None,
    item_ids: Sequence | np.ndarray | None = None,
) -> Path:
    """Writes the users and items of a model for the TensorBoard projector.

    Args:
        logdir: the TensorBoard logdir (the projector files go at its top).
        users: ``[U, d]`` user table (NumPy or tensor).
        items: ``[I, d]`` item table.
        user_ids, item_ids: raw ids for the metadata (default: row indices).

    Returns:
        Path of the written ``projector_config.pbtxt``.

    Example:
        >>> users, items = model.tables()  # doctest: +SKIP
        >>> ids = data.user_ids, data.item_ids  # doctest: +SKIP
        >>> export_projector("runs/x/logs", users, items, *ids)  # doctest: +SKIP
    """
    from tensorboard.plugins import projector

    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    users, items = np.asarray(users, dtype=np.float32), np.asarray(items, dtype=np.float32)
    user_ids = np.arange(len(users)) if user_ids is None else np.asarray(user_ids)
    item_ids = np.arange(len(items)) if item_ids is None else np.asarray(item_ids)
    np.savetxt(logdir / EMBEDDINGS_FILE, np.concatenate([users, items]), fmt="%.6g", delimiter="\t")
    with open(logdir / METADATA_FILE, "w", encoding="utf-8") as f:
        f.write("kind\tid\n")
        f.writelines(f"user\t{_clean(u)}\n" for u in user_ids)
        f.writelines(f"item\t{_clean(i)}\n" for i in item_ids)
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.tensor_path = EMBEDDINGS_FILE
    embedding.metadata_path = METADATA_FILE
    projector.visualize_embeddings(str(logdir), config)
    return logdir / "projector_config.pbtxt"


class ProjectorExport(keras.callbacks.Callback):
    """Exports the model's final tables for the projector when training ends.

    ``fit`` has not restored any best-validation weights at that point, so these are the
    last epoch's embeddings.

    Args:
        logdir: the TensorBoard logdir.
        ids: a zero-argument callable returning ``(user_ids, item_ids)`` raw ids, or None
            (row indices).
    """

    def __init__(
        self, logdir: str | Path, ids: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
    ) -> None:
        super().__init__()
        self.logdir = Path(logdir)
        self.ids = ids

    def on_train_end(self, logs: dict | None = None) -> None:
        users, items = (t.numpy() for t in self.model.tables())
        user_ids, item_ids = self.ids() if self.ids is not None else (None, None)
        export_projector(self.logdir, users, items, user_ids, item_ids)
