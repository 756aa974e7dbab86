"""LightGCN tower: embeddings smoothed over the normalised user–item graph.

With ``R`` the binary ``U × I`` training matrix, ``A = [[0, R], [Rᵀ, 0]]`` the
bipartite adjacency on ``n = U + I`` nodes (users first, no self loops) and
``D`` its degree matrix, the tower propagates ``E = [E_users; E_items]`` with::

    Â = D^-1/2 A D^-1/2 = [[0, R̂], [R̂ᵀ, 0]]     (zero-degree nodes: zero row and column)
    E_out = c · Σ_{k=0..K} Â^k E,   c = 1 / (K + 1) ("mean", LightGCN)
                                    or c = 1        ("sum", the DirectSpec authors)

and scores ``score(u, i) = E_out[u] · E_out[U + i]``. The graph is data, not
configuration: ``R̂`` (which determines ``Â``) is held as non-trainable weights,
COO indices and values of its ``num_edges = nnz(R)`` entries, whose shapes come
from the config, so a saved model reloads the graph with its weights. See
:mod:`tfdirectspec.towers.propagation` for the sparse products and their gradient.
"""

from __future__ import annotations

import numbers

import keras
import scipy.sparse as sp
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend
from tfdirectspec.parameters import check_combination, check_layers
from tfdirectspec.towers.base import EmbeddingTower
from tfdirectspec.towers.propagation import (
    normalized_interactions,
    propagate,
    to_coo,
)

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now


@keras.saving.register_keras_serializable(package="tfdirectspec")
class LightGCNTower(EmbeddingTower):
    """LightGCN (He et al., 2020): ``E_out = c · Σ_{k=0..K} Â^k E``.

    ``Â = D^-1/2 A D^-1/2`` is the symmetrically normalised adjacency of the
    bipartite user–item training graph (no self loops; nodes without
    interactions get zero rows, so their output is ``c · E``). ``c`` is
    ``1 / (K + 1)`` for ``combination="mean"`` and ``1`` for ``"sum"``. The
    trainable parameters are the layer-0 tables ``E``, initialised Glorot-uniform
    with bound ``sqrt(6 / (n_rows + d))`` per table (as :class:`MFTower`).

    Build it with :meth:`from_interactions`, which attaches the training graph.
    The constructor alone makes a tower whose graph weights (``num_edges``
    entries of ``R̂``) are zero (an empty graph) until they are loaded, which is
    what ``from_config`` followed by weight loading relies on.

    The propagation runs TensorFlow's CSR sparse matmul, which XLA cannot
    compile: the tower sets ``supports_jit = False``, so Keras compiles models
    holding it with ``jit_compile=False``; do not wrap it in an XLA function.

    Args:
        num_users: number of users ``U``.
        num_items: number of items ``I``.
        embedding_dim: embedding width ``d`` (64 in the paper).
        num_layers: propagation depth ``K``, an int in ``[0, 10]`` (3 in the paper).
        combination: ``"mean"`` (LightGCN) or ``"sum"`` (DirectSpec authors).
        seed: seed of the initialisers, for reproducible runs.
        num_edges: number of training interactions ``nnz(R)`` (stored entries of ``R̂``).

    Example:
        >>> import scipy.sparse as sp
        >>> train = sp.random(30, 20, density=0.2, format="csr", random_state=0)
        >>> tower = LightGCNTower.from_interactions(train, embedding_dim=8, seed=0)
        >>> out = tower({"user": tf.constant([0, 1]), "item": tf.constant([3, 4])})
        >>> out["user"].shape, out["item_ego"].shape
        (TensorShape([2, 8]), TensorShape([2, 8]))
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        combination: str = "mean",
        seed: int | None = None,
        num_edges: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(num_users, num_items, embedding_dim, **kwargs)
        self.num_layers = check_layers(num_layers)
        check_combination(combination)
        if (
            not isinstance(num_edges, numbers.Integral)
            or isinstance(num_edges, bool)
            or num_edges < 0
        ):
            raise ValueError(f"num_edges must be a non-negative int, got {num_edges!r}")
        self.combination = combination
        self.seed = seed
        self.num_edges = int(num_edges)
        # XLA has no sparse matmul kernel: this makes Keras resolve
        # compile(jit_compile="auto" or True) to False for models holding the tower.
        self.supports_jit = False
        self.add_embedding_tables(seed)
        # (user, item) pairs of R̂ in row-major order. int64 because that is what
        # the COO -> CSR conversion takes; int32 would save 6 MB on Gowalla but
        # cost a cast in every step.
        self.adjacency_indices = self.add_weight(
            name="adjacency_indices",
            shape=(self.num_edges, 2),
            dtype="int64",
            initializer="zeros",
            trainable=False,
        )
        self.adjacency_values = self.add_weight(
            name="adjacency_values",
            shape=(self.num_edges,),
            dtype="float32",
            initializer="zeros",
            trainable=False,
        )

    @classmethod
    def from_interactions(
        cls,
        train_csr: sp.spmatrix | sp.sparray,
        embedding_dim: int = 64,
        num_layers: int = 3,
        combination: str = "mean",
        seed: int | None = None,
        num_users: int | None = None,
        num_items: int | None = None,
        **kwargs,
    ) -> LightGCNTower:
        """Returns a tower on the graph of a ``U × I`` training matrix.

        Args:
            train_csr: training interactions; every stored non-zero is an edge.
            embedding_dim, num_layers, combination, seed: as in the constructor.
            num_users, num_items: table sizes when larger than ``train_csr``'s
                shape (users or items with no training interaction).
            **kwargs: Keras layer arguments (``name``, ...).
        """
        check_layers(num_layers)
        block = normalized_interactions(train_csr, num_users, num_items)
        indices, values = to_coo(block)
        tower = cls(
            block.shape[0],
            block.shape[1],
            embedding_dim=embedding_dim,
            num_layers=num_layers,
            combination=combination,
            seed=seed,
            num_edges=len(values),
            **kwargs,
        )
        tower.adjacency_indices.assign(indices)
        tower.adjacency_values.assign(values)
        return tower

    def interaction_block(self) -> sp.csr_matrix:
        """Returns the stored ``R̂`` (``U × I``) as a SciPy CSR matrix (eager only)."""
        indices = self.adjacency_indices.value.numpy()
        values = self.adjacency_values.value.numpy()
        return sp.csr_matrix(
            (values, (indices[:, 0], indices[:, 1])), shape=(self.num_users, self.num_items)
        )

    def tables(self, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        users, items = self.ego_tables()
        # CSR matmul has float32/float64 kernels only: propagate half-precision
        # (mixed-precision) tables in float32 and hand back their dtype.
        dtype = users.dtype if users.dtype in (tf.float32, tf.float64) else tf.float32
        out_users, out_items = propagate(
            self.adjacency_indices.value,
            tf.cast(self.adjacency_values.value, dtype),
            tf.cast(users, dtype),
            tf.cast(items, dtype),
            self.num_layers,
            self.combination,
        )
        return tf.cast(out_users, users.dtype), tf.cast(out_items, items.dtype)

    def ego_tables(self) -> tuple[tf.Tensor, tf.Tensor]:
        return self.user_embeddings.value, self.item_embeddings.value

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_layers=self.num_layers,
            combination=self.combination,
            seed=self.seed,
            num_edges=self.num_edges,
        )
        return config
