"""A Keras callback that puts full-ranking metrics into the epoch logs."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import scipy.sparse as sp

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.evaluation import full_ranking_metrics
from tfdirectspec.evaluation.ranking import CI_SUFFIX

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now

TablesFn = Callable[[keras.Model], tuple[np.ndarray, np.ndarray]]


class RankingMetrics(keras.callbacks.Callback):
    """Ranks all items for every held-out user and writes ``val_<metric>`` into the logs.

    Every ``every`` epochs (and on the last) it scores ``user_table @ item_tableᵀ``,
    masks each user's ``train`` items, and adds Recall, NDCG, precision and hit rate at
    each K to the epoch logs as ``val_recall@20``, ``val_ndcg@20``, …, so stock callbacks
    that come after it in the list see them: ``EarlyStopping(monitor="val_ndcg@20",
    mode="max", restore_best_weights=True)``, ``ModelCheckpoint``, ``CSVLogger``,
    ``TensorBoard`` and KerasTuner objectives. A stock callback skips (with a warning)
    the epochs between evaluations, so its ``patience`` counts evaluations.

    The tables come from ``model.tables()`` when the model has it (a
    :class:`~tfdirectspec.models.RetrievalModel`); otherwise from the ``embeddings`` of
    the model's layers named ``user_embedding`` and ``item_embedding``, or from the
    ``tables`` function given.

    Args:
        train: ``U × I`` training interactions, masked out of the rankings.
        valid: ``U × I`` held-out interactions to find.
        ks: cut-offs K.
        every: evaluation period in epochs (the last epoch is always evaluated).
        prefix: key prefix in the logs.
        tables: ``model -> (user_table, item_table)``, when the defaults do not apply.
        batch_size: users per scoring block.
        sample_users: rank a seeded sample of this many users (None: all).
        seed: the seed of that sample.

    Example:
        >>> import numpy as np, scipy.sparse as sp, keras
        >>> train = sp.csr_matrix(np.eye(3, dtype=np.float32))
        >>> valid = sp.csr_matrix(np.roll(np.eye(3, dtype=np.float32), 1, axis=1))
        >>> metrics = RankingMetrics(train, valid, ks=(1,), tables=lambda m: (np.eye(3),) * 2)
        >>> metrics.set_model(keras.Sequential())
        >>> logs = {}
        >>> metrics.on_epoch_end(0, logs)
        >>> sorted(logs)[:2], round(logs["val_recall@1"], 4)  # each user's next item, at rank 1?
        (['val_hitrate@1', 'val_ndcg@1'], 0.6667)
    """

    def __init__(
        self,
        train: sp.csr_matrix,
        valid: sp.csr_matrix,
        ks: tuple[int, ...] = (10, 20),
        every: int = 1,
        prefix: str = "val_",
        tables: TablesFn | None = None,
        batch_size: int = 1024,
        sample_users: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train, self.valid = train, valid
        self.ks, self.every, self.prefix = tuple(ks), int(every), prefix
        self.tables_fn, self.batch_size = tables, int(batch_size)
        self.sample_users, self.seed = sample_users, int(seed)
        #: The last evaluation's full metrics (interval widths and counts included).
        self.last: dict[str, float] | None = None

    def due(self, epoch: int) -> bool:
        """Whether the epoch with 0-based index ``epoch`` is evaluated."""
        done = epoch + 1
        return done % self.every == 0 or done == self.params.get("epochs")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.due(epoch) or self.valid.nnz == 0:
            return
        self.last = self.rank(self.valid, self.train)
        if logs is not None:
            logs.update({self.prefix + k: v for k, v in self.last.items() if logged(k)})

    def model_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(user_table, item_table)`` of the model being trained, as NumPy arrays."""
        if self.tables_fn is not None:
            users, items = self.tables_fn(self.model)
        elif hasattr(self.model, "tables"):
            users, items = self.model.tables()
        else:
            users, items = (
                self.model.get_layer(f"{side}_embedding").embeddings for side in ("user", "item")
            )
        return np.asarray(users), np.asarray(items)

    def rank(
        self,
        target: sp.csr_matrix,
        exclude: sp.csr_matrix,
        tables: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[str, float]:
        """Full-ranking metrics of ``target`` with ``exclude`` masked."""
        users, items = self.model_tables() if tables is None else tables
        return full_ranking_metrics(
            users,
            items,
            target,
            exclude=exclude,
            ks=self.ks,
            batch_size=self.batch_size,
            sample_users=self.sample_users,
            seed=self.seed,
        )


def logged(key: str) -> bool:
    """Whether a metric goes to the epoch logs: the metrics, not their interval widths."""
    return "@" in key and not key.endswith(CI_SUFFIX)
