"""The trainable Keras model: a tower composed with a retrieval loss."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.distributed.strategies import is_multi_worker
from tfdirectspec.losses.base import RetrievalLoss
from tfdirectspec.parameters import check_non_negative
from tfdirectspec.towers.base import EmbeddingTower

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now

#: Rows of a batch whose in-batch rank :func:`in_batch_top1` measures.
TOP1_ROWS = 256


def in_batch_top1(users: tf.Tensor, items: tf.Tensor, rows: int = TOP1_ROWS) -> tf.Tensor:
    """Share of the first ``rows`` pairs whose own item scores highest among the batch's.

    Row ``b`` of ``users`` and ``items`` is a (user, positive item) pair; the score is the
    dot product the ranking uses. A pair counts when no item of the batch scores higher
    than its own for its user (equal scores count for the pair).

    Example:
        >>> users = tf.constant([[1.0, 0.0], [1.0, 0.0]])
        >>> float(in_batch_top1(users, tf.constant([[2.0, 0.0], [1.0, 0.0]])))
        0.5
    """
    users = tf.convert_to_tensor(users)[:rows]
    items = tf.convert_to_tensor(items)
    scores = tf.matmul(users, items, transpose_b=True)  # [rows, batch]
    own = tf.linalg.diag_part(scores[:, : tf.shape(users)[0]])
    best = tf.reduce_max(scores, axis=1)
    return tf.reduce_mean(tf.cast(own >= best, tf.float32))


def scale_item_norms(items: tf.Tensor, exponent: float) -> tf.Tensor:
    """Rows ``i`` as ``î · ‖i‖^exponent`` (``exponent = 1``: unchanged; zero rows stay zero).

    Example:
        >>> scale_item_norms(tf.constant([[3.0, 4.0], [0.0, 0.0]]), 2.0).numpy().tolist()
        [[15.0, 20.0], [0.0, 0.0]]
    """
    if exponent == 1.0:
        return items
    norms = tf.norm(items, axis=1, keepdims=True)
    safe = tf.where(norms > 0, norms, tf.ones_like(norms))
    return items * tf.pow(safe, exponent - 1.0)


@keras.saving.register_keras_serializable(package="tfdirectspec")
class RetrievalModel(keras.Model):
    """A two-tower retrieval model trained with ``model.fit`` on id batches.

    ``model(batch)`` returns the tower's rows for the batch's ids; ``fit``
    minimises ``loss`` over batches from :class:`tfdirectspec.data.InteractionSampler`
    (dicts of ``"user"``, ``"item"``, optional ``"negative"`` and mask
    features). Scores for ranking are ``user_table @ item_tableᵀ`` from
    :meth:`tables` (raw tower outputs: not normalised, not filtered).

    Under a ``tf.distribute`` strategy each replica's loss is the sum of its
    rows' per-example values divided by the *global* batch size, which is the
    scaling Keras expects from ``compute_loss`` (it sums replica gradients).

    Besides ``loss`` the training logs (progress bar, TensorBoard) show ``batch_top1``,
    the share of a batch's (user, item) pairs whose item scores highest for that user
    among the batch's items. A loss need not move while the model learns: DirectSpec+'s
    is dominated by its alignment term and prints ``0.6930`` from the first epoch to the
    300th. ``batch_top1`` is a ranking quantity, the same for every loss, that starts near
    ``1 / batch size`` and rises as the model learns to rank (an in-batch recall@1, a
    cheap proxy of the ranking metrics the run is judged by). It is measured on the first
    :data:`TOP1_ROWS` rows of the batch against all its items, so its cost stays below
    the loss's.

    The item table used for scoring can be recalibrated without retraining:
    ``item_norm_exponent = γ`` scores with ``î · ‖i‖^γ`` (``γ = 1``, the default: the raw
    rows). A loss on normalised rows (DirectSpec, DirectSpec+, DirectAU) leaves the
    rows' norms to the optimiser, which lengthens the rows it updates more often, so the
    norms carry item popularity (log-norm against log-count correlate at 0.92 on a dense
    log) but with an accidental weight; ``γ`` sets that weight, and ``γ = 0`` ranks by
    cosine alone. :func:`~tfdirectspec.training.calibration.calibrate_item_norms`
    chooses it on a validation split. Training is unaffected: the loss sees the
    tower's rows.

    Args:
        tower: an :class:`~tfdirectspec.towers.EmbeddingTower`.
        loss: a :class:`~tfdirectspec.losses.RetrievalLoss`.
        item_norm_exponent: the exponent ``γ ≥ 0`` of the item rows' norms in scoring.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> from tfdirectspec.data import InteractionSampler
        >>> from tfdirectspec.losses import DirectSpecPlusLoss
        >>> from tfdirectspec.towers import MFTower
        >>> train = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], np.float32))  # 2 users, 3 items
        >>> sampler = InteractionSampler(train, batch_size=4, seed=0)
        >>> model = RetrievalModel(MFTower(2, 3, embedding_dim=4, seed=0), DirectSpecPlusLoss())
        >>> model.compile(optimizer=keras.optimizers.SGD(1.0))
        >>> history = model.fit(sampler.dataset(), epochs=2, verbose=0)
        >>> len(history.history["loss"]), [tuple(t.shape) for t in model.tables()]
        (2, [(2, 4), (3, 4)])
    """

    def __init__(
        self,
        tower: EmbeddingTower,
        loss: RetrievalLoss,
        item_norm_exponent: float = 1.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.tower = tower
        self.retrieval_loss = loss
        check_non_negative("item_norm_exponent", item_norm_exponent)
        self.item_norm_exponent = float(item_norm_exponent)
        self.batch_top1 = keras.metrics.Mean(name="batch_top1")

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.batch_top1.update_state(in_batch_top1(y_pred["user"], y_pred["item"]))
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def build_for_ids(self) -> None:
        """Builds the model on a dummy int64 batch.

        Call it inside the strategy scope before ``fit``: Keras' automatic
        build would otherwise trace a first batch through the strategy and
        can turn the int ids into floats.
        """
        ids = tf.zeros([1], tf.int64)
        self({"user": ids, "item": ids})

    def build_from_config(self, config: dict) -> None:
        # Towers create their weights in __init__; one call marks the model built.
        self.build_for_ids()

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        return self.tower(inputs, training=training)

    def train_step(self, data):
        catch_up_rows = getattr(self.optimizer, "catch_up_rows", None)
        # A lazy optimiser (LazyAdam) leaves rows outside a batch behind; the rows this
        # batch reads are brought up to date first, so its gradient is taken where dense
        # Adam's would be. With several replicas each would update the shared rows from
        # its own context, so they are left to the optimiser's update (one step stale).
        if catch_up_rows is not None and self.distribute_strategy.num_replicas_in_sync == 1:
            inputs = data[0] if isinstance(data, tuple) else data
            for variable, ids in self.tower.sparse_lookups(inputs):
                catch_up_rows(variable, ids)
        logs = super().train_step(data)
        if is_multi_worker(self.distribute_strategy):
            # keras-team/keras#20585: under MultiWorkerMirroredStrategy Keras 3 reduces
            # each step's logs with strategy.reduce("MEAN", v, axis=0), which fails on
            # scalars ("Invalid reduction dimension 0 for input with 0 dimensions").
            # A length-1 vector per replica reduces to the mean over replicas, which is
            # what the scalar log should be. tests/test_distributed_multi_worker.py fails once
            # Keras no longer needs this.
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds the model from a first batch reduced across replicas; under
        # MultiWorkerMirroredStrategy that reduce of a nested PerReplica batch fails
        # ("Attempt to convert a value (PerReplica...)"). This model is built from ids
        # (build_for_ids), so only the optimizer can still need building.
        if self.built and is_multi_worker(self.distribute_strategy):
            if self.optimizer is not None and not self.optimizer.built:
                with self.distribute_strategy.scope():
                    self.optimizer.build(self.trainable_variables)
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Extra batch features (e.g. adaptive-τ masks) go to the loss as they are;
        # id features the tower consumed (e.g. "negative") arrive as embeddings.
        features = {k: x[k] for k in self.retrieval_loss.required_features if k in x}
        labels = tf.ones_like(x["user"], tf.float32) if y is None else y  # every pair observed
        total = self.retrieval_loss(labels, {**features, **y_pred})
        if self.losses:
            total += tf.add_n(self.losses)
        return total

    def tables(self) -> tuple[tf.Tensor, tf.Tensor]:
        """``(user_table, item_table)`` used for scoring (items with their norms to the
        power ``item_norm_exponent``)."""
        users, items = self.tower.tables(training=False)
        return users, scale_item_norms(items, self.item_norm_exponent)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            tower=keras.saving.serialize_keras_object(self.tower),
            loss=keras.saving.serialize_keras_object(self.retrieval_loss),
            item_norm_exponent=self.item_norm_exponent,
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> RetrievalModel:
        config = dict(config)
        tower = keras.saving.deserialize_keras_object(config.pop("tower"))
        loss = keras.saving.deserialize_keras_object(config.pop("loss"))
        return cls(tower=tower, loss=loss, **config)
