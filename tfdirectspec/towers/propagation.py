"""Graph propagation of LightGCN: the normalised adjacency and the sparse products.

The graph is the bipartite user–item graph of the binary training matrix ``R``
(``U × I``) on ``n = U + I`` nodes, users first::

    A = [[0, R], [Rᵀ, 0]],   Â = D^-1/2 A D^-1/2 = [[0, R̂], [R̂ᵀ, 0]],
    R̂ = D_U^-1/2 R D_I^-1/2,

with no self loops; a node of degree 0 gets an all-zero row and column (its
``D^-1/2`` is taken as 0, not inf). ``Â`` is symmetric.

LightGCN's output combines the layers ``E_k = Â^k E`` (``k = 0..K``)::

    mean:  E_out = (1 / (K + 1)) Σ_k Â^k E     (LightGCN's default)
    sum:   E_out = Σ_k Â^k E                   (the DirectSpec authors' I + Â + Â² + Â³)

so ``E_out = P(Â) E`` for a polynomial ``P``, and, ``Â`` being symmetric,
``∂L/∂E = P(Â) ∂L/∂E_out``: the backward pass is the same propagation applied to
the incoming gradient. :func:`propagate` uses that rather than differentiating
each sparse product, so it keeps no intermediate layer for the backward pass and
skips TF's gradient wrt the matrix values (an ``nnz × d`` gather that eager mode
does not prune).

Only ``R̂`` is stored, as a COO list of the ``nnz(R)`` interactions; nothing of
size ``n²`` or ``U × I`` is built. A layer is two products, users ← ``R̂`` ·
items and items ← ``R̂ᵀ`` · users, with TensorFlow's CSR sparse-matrix ops
(``SparseMatrixMatMul``: Eigen on CPU, cuSPARSE on GPU); ``R̂ᵀ`` is made from
``R̂`` by the CSR transpose op once per call, so the two blocks are each other's
transpose by construction (which the symmetric gradient relies on).

Why these ops (``pipelines/benchmarks/bench_propagation.py``, Gowalla, d = 64, K = 3, 2-core
CPU): TF's CSR product is 5–10× faster than ``tf.sparse.sparse_dense_matmul``
and than gather + segment sums, forward and backward alike. Within the CSR
variants, the whole ``Â`` and the two ``R̂``/``R̂ᵀ`` blocks time the same; the
blocks store half the graph and need no concatenation of the tables. XLA has no
sparse matmul kernel, so this must run with ``jit_compile`` off.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as csr_ops

from tfdirectspec.parameters import check_combination

#: Combinations of the layer outputs that :func:`propagate` accepts.


def normalized_interactions(
    train: sp.spmatrix | sp.sparray,
    num_users: int | None = None,
    num_items: int | None = None,
) -> sp.csr_matrix:
    """Returns ``R̂ = D_U^-1/2 R D_I^-1/2``, the user–item block of ``Â``.

    Args:
        train: ``U × I`` interaction matrix; any stored non-zero counts as one
            edge (the matrix is binarised, duplicates collapse).
        num_users: number of users ``U``; defaults to ``train.shape[0]``. It may
            exceed the matrix's rows (the extra users have no edges).
        num_items: number of items ``I``; defaults to ``train.shape[1]``.

    Returns:
        ``U × I`` float32 CSR matrix with sorted indices and no explicit zeros.
        Users or items without interactions have empty rows or columns.
    """
    train = sp.csr_matrix(train)
    num_users = train.shape[0] if num_users is None else int(num_users)
    num_items = train.shape[1] if num_items is None else int(num_items)
    if train.shape[0] > num_users or train.shape[1] > num_items:
        raise ValueError(
            f"train matrix of shape {train.shape} does not fit "
            f"{num_users} users × {num_items} items"
        )
    train.eliminate_zeros()
    coo = train.tocoo()
    binary = sp.csr_matrix(
        (np.ones(coo.nnz, dtype=np.float64), (coo.row, coo.col)), shape=(num_users, num_items)
    )
    binary.sum_duplicates()
    binary.data[:] = 1.0
    # Normalise in float64 and round once at the end.
    scaled = (
        sp.diags(_inv_sqrt(binary.sum(axis=1))) @ binary @ sp.diags(_inv_sqrt(binary.sum(axis=0)))
    )
    scaled = sp.csr_matrix(scaled, dtype=np.float32)
    scaled.sort_indices()
    return scaled


def to_coo(matrix: sp.spmatrix | sp.sparray) -> tuple[np.ndarray, np.ndarray]:
    """Returns ``(indices [nnz, 2] int64, values [nnz] float32)`` in row-major order.

    Row-major (canonical) order is required: TF's COO -> CSR conversion does
    not check it and silently computes wrong products from unsorted indices.
    """
    csr = sp.csr_matrix(matrix)
    csr.sum_duplicates()
    csr.sort_indices()
    coo = csr.tocoo()
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
    return indices, coo.data.astype(np.float32)


def layer_weights(num_layers: int, combination: str) -> list[float]:
    """Returns the coefficients ``c_k`` of ``E_out = Σ_k c_k Â^k E``."""
    check_combination(combination)
    weight = 1.0 / (num_layers + 1) if combination == "mean" else 1.0
    return [weight] * (num_layers + 1)


def csr_matrix(indices: tf.Tensor, values: tf.Tensor, shape: tuple[int, int]) -> tf.Tensor:
    """Builds TF's ``CSRSparseMatrix`` (a variant tensor) from row-major COO arrays.

    Args:
        indices: ``[nnz, 2]`` int64 indices in row-major order.
        values: ``[nnz]`` float32 or float64 values.
        shape: ``(rows, columns)``.
    """
    return csr_ops.sparse_tensor_to_csr_sparse_matrix(
        indices, values, tf.constant(shape, dtype=tf.int64)
    )


# Long by its docstring only: the body is one computation with its custom gradient.
def propagate(
    indices: tf.Tensor,
    values: tf.Tensor,
    users: tf.Tensor,
    items: tf.Tensor,
    num_layers: int,
    combination: str = "mean",
) -> tuple[tf.Tensor, tf.Tensor]:
    """Returns the user and item rows of ``Σ_k c_k Â^k [users; items]``.

    Pure TensorFlow (graph- and GPU-friendly); it must not be XLA-compiled.

    Args:
        indices: ``[nnz, 2]`` int64 row-major COO indices ``(user, item)`` of ``R̂``.
        values: ``[nnz]`` values of ``R̂`` (float32 or float64, the dtype of the
            embeddings).
        users: ``[U, d]`` layer-0 user embeddings, ``U`` static.
        items: ``[I, d]`` layer-0 item embeddings, ``I`` static.
        num_layers: ``K ≥ 0``.
        combination: ``"mean"`` or ``"sum"``.

    Returns:
        ``([U, d], [I, d])``. The gradient flows to the embeddings only (the
        graph is data) and is exact: ``P(Â) g``, ``Â`` being symmetric.
    """
    weights = layer_weights(num_layers, combination)
    if num_layers == 0:
        return weights[0] * users, weights[0] * items
    num_users, num_items = users.shape[0], items.shape[0]
    if num_users is None or num_items is None:
        raise ValueError("propagate needs embeddings with a static number of rows")
    # Converted once per call and shared by all layers and the backward pass.
    block = csr_matrix(indices, values, (num_users, num_items))
    block_t = csr_ops.sparse_matrix_transpose(block, type=values.dtype)

    # Every layer has the same weight: sum the layers, then scale once (if at all),
    # which saves 2K full-table multiplies per pass.
    weight = weights[0]

    def polynomial(x_users: tf.Tensor, x_items: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        layers_users, layers_items = [x_users], [x_items]
        for _ in range(num_layers):
            # Independent products: on CPU they run concurrently.
            x_users, x_items = (
                csr_ops.sparse_matrix_mat_mul(block, x_items),
                csr_ops.sparse_matrix_mat_mul(block_t, x_users),
            )
            layers_users.append(x_users)
            layers_items.append(x_items)
        out_users, out_items = tf.add_n(layers_users), tf.add_n(layers_items)
        if weight != 1.0:
            out_users, out_items = weight * out_users, weight * out_items
        return out_users, out_items

    @tf.custom_gradient
    def forward(x_users: tf.Tensor, x_items: tf.Tensor):
        def grad(g_users: tf.Tensor, g_items: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            # Gathers of batch rows send IndexedSlices; the products need dense.
            return polynomial(_dense(g_users, x_users), _dense(g_items, x_items))

        return polynomial(x_users, x_items), grad

    return forward(users, items)


def _dense(gradient: tf.Tensor | tf.IndexedSlices | None, like: tf.Tensor) -> tf.Tensor:
    """An incoming gradient as a dense tensor (zeros when the output was unused)."""
    if gradient is None:
        return tf.zeros_like(like)
    return tf.convert_to_tensor(gradient)


def _inv_sqrt(degree: np.ndarray | np.matrix) -> np.ndarray:
    """``degree^-1/2`` with 0 (not inf) for degree 0."""
    degree = np.asarray(degree, dtype=np.float64).ravel()
    out = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=out, where=degree > 0)
    return out
