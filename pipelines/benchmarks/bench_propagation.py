"""Benchmark of exact LightGCN propagation ops on CPU: ``E_out = mean_k Â^k E``.

Times, for each candidate implementation of the K-layer propagation on a training
graph (``--dataset gowalla``: Gowalla's, through :func:`tfdirectspec.data.load_dataset`,
i.e. ``$TFDIRECTSPEC_DATA/gowalla`` or a verified download; ``--data-dir`` a folder's
``train.tsv``; by default a random graph of Gowalla's size), the forward pass and
forward + backward (gradient wrt ``E`` through the scalar loss ``½ Σ W ⊙ E_out²``, not
linear so that the backward products wait for the forward ones, as in training). Each runs
inside a ``tf.function`` (graph mode, as a Keras training step, with ``jit_compile`` off:
XLA has no sparse matmul kernel). The candidates are timed round robin,
``--warmup`` untimed rounds then ``--repeats`` timed ones, and the report gives
the median and the minimum of each (on a shared machine other processes only
ever add time, so the minimum is the steadier figure). Every candidate is also
checked against a float64 SciPy reference (max error relative to the largest
entry, for the output and the gradient).

    PYTHONPATH=. python pipelines/benchmarks/bench_propagation.py --dataset gowalla
    # about 2 min on 2 cores; --out FILE writes the JSON report, --only NAME... a subset

The tower (``tfdirectspec/towers/propagation.py``) uses the
``bipartite_csr+symgrad [tower]`` candidate.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as csr_ops

from _machine import cpu_model
from tfdirectspec.towers.propagation import (
    csr_matrix,
    layer_weights,
    normalized_interactions,
    propagate,
    to_coo,
)

#: Gowalla's training split, used for the random stand-in graph.
GOWALLA_USERS, GOWALLA_ITEMS, GOWALLA_PAIRS = 29_858, 40_981, 810_128

Propagation = Callable[[tf.Tensor], tf.Tensor]

#: Candidates timed for a part of the cost only; their errors are meaningless.
NOT_PROPAGATIONS = ("csr_conversion_only",)


def normalized_adjacency(
    train: sp.spmatrix | sp.sparray,
    num_users: int | None = None,
    num_items: int | None = None,
) -> sp.csr_matrix:
    """Returns the whole symmetric ``(U + I) × (U + I)`` float32 ``Â`` (users first).

    Arguments as :func:`~tfdirectspec.towers.propagation.normalized_interactions`. The tower
    stores only that ``R̂`` block; the whole ``Â`` is for the candidates and the reference here.
    """
    block = normalized_interactions(train, num_users, num_items)
    adjacency = sp.bmat([[None, block], [block.T, None]], format="csr")
    adjacency.sort_indices()
    return adjacency


def load_train(
    data_dir: Path | None, seed: int, dataset: str | None = None
) -> tuple[sp.csr_matrix, str]:
    """Returns the binary train matrix and a description of where it came from.

    ``dataset`` (a name of :func:`~tfdirectspec.data.load_dataset`) first, else
    ``data_dir/train.tsv`` (an error if missing), else a seeded random graph of Gowalla's size.
    """
    if dataset is not None:
        from tfdirectspec.data import load_dataset

        train = sp.csr_matrix(load_dataset(dataset).train, dtype=np.float32)
        train.data[:] = 1.0
        return train, f"load_dataset({dataset!r}) train split"
    if data_dir is not None:
        path = data_dir / "train.tsv"
        if not path.is_file():
            raise SystemExit(f"--data-dir {data_dir}: no train.tsv")
        pairs = np.array(path.read_text().split(), dtype=np.int64).reshape(-1, 2)
        shape = (int(pairs[:, 0].max()) + 1, int(pairs[:, 1].max()) + 1)
        source = str(path)
    else:
        rng = np.random.default_rng(seed)
        shape = (GOWALLA_USERS, GOWALLA_ITEMS)
        flat = rng.choice(shape[0] * shape[1], size=GOWALLA_PAIRS, replace=False)
        pairs = np.stack(np.divmod(flat, shape[1]), axis=1)
        source = f"random graph of Gowalla's size (seed {seed})"
    train = sp.csr_matrix(
        (np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])), shape=shape
    )
    return train, source


def symmetric_gradient(poly: Propagation) -> Propagation:
    """Wraps ``x ↦ P(Â) x`` so that its gradient is ``P(Â) g`` (valid for symmetric Â)."""

    @tf.custom_gradient
    def wrapped(x: tf.Tensor):
        return poly(x), poly

    return wrapped


def polynomial(step: Propagation, weights: list[float]) -> Propagation:
    """Returns ``x ↦ Σ_k w_k step^k(x)``."""

    def apply(x: tf.Tensor) -> tf.Tensor:
        total = weights[0] * x
        for weight in weights[1:]:
            x = step(x)
            total += weight * x
        return total

    return apply


def make_candidates(
    adjacency: sp.csr_matrix, num_users: int, num_layers: int
) -> dict[str, tuple[str, Propagation]]:
    """Returns ``{name: (description, E ↦ E_out)}``; the graph arrays are captured constants.

    Every candidate builds what a tower holding the COO arrays as weights would
    have to build in each step (SparseTensor, CSR conversion, transpose).
    """
    weights = layer_weights(num_layers, "mean")
    n = adjacency.shape[0]
    indices_np, values_np = to_coo(adjacency)
    indices64 = tf.constant(indices_np)
    indices32 = tf.constant(indices_np.astype(np.int32))
    values = tf.constant(values_np)
    values16 = tf.constant(values_np.astype(np.float16))
    rows, cols = indices32[:, 0], indices32[:, 1]
    shape64 = tf.constant([n, n], dtype=tf.int64)

    def sdmm(x: tf.Tensor) -> tf.Tensor:
        return tf.sparse.sparse_dense_matmul(tf.SparseTensor(indices64, values, shape64), x)

    def sdmm32(x: tf.Tensor, vals: tf.Tensor = values) -> tf.Tensor:
        return tf.raw_ops.SparseTensorDenseMatMul(
            a_indices=indices32, a_values=vals, a_shape=shape64, b=x
        )

    def csr_per_layer(x: tf.Tensor) -> tf.Tensor:
        return csr_ops.sparse_matrix_mat_mul(csr_matrix(indices64, values, (n, n)), x)

    def csr_whole(x: tf.Tensor) -> tf.Tensor:
        matrix = csr_matrix(indices64, values, (n, n))
        step = functools.partial(csr_ops.sparse_matrix_mat_mul, matrix)
        return symmetric_gradient(polynomial(step, weights))(x)

    def csr_conversion(x: tf.Tensor) -> tf.Tensor:
        # Only the COO -> CSR conversion of Â, tied to the output so it is not pruned.
        nnz = csr_ops.sparse_matrix_nnz(csr_matrix(indices64, values, (n, n)))
        return x + tf.cast(tf.minimum(nnz, 0), x.dtype)

    def unsorted_segment(x: tf.Tensor) -> tf.Tensor:
        messages = tf.gather(x, cols) * values[:, None]
        return tf.math.unsorted_segment_sum(messages, rows, n)

    def sorted_segment(x: tf.Tensor) -> tf.Tensor:
        # Rows are sorted; segment_sum drops trailing empty rows, so pad them back.
        summed = tf.math.segment_sum(tf.gather(x, cols) * values[:, None], rows)
        return tf.pad(summed, [[0, n - tf.shape(summed)[0]], [0, 0]])

    # R̂ = Â[:U, U:]; each layer is two products, x_u ← R̂ x_i and x_i ← R̂ᵀ x_u.
    num_items = n - num_users
    block = adjacency[:num_users, num_users:]
    block_idx, block_val = (tf.constant(a) for a in to_coo(block))
    block_t_idx, block_t_val = (tf.constant(a) for a in to_coo(block.T))
    block_idx32, block_t_idx32 = tf.cast(block_idx, tf.int32), tf.cast(block_t_idx, tf.int32)
    block_shape = tf.constant([num_users, num_items], tf.int64)
    block_t_shape = tf.constant([num_items, num_users], tf.int64)

    def split(matmul: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]):
        """Runs a bipartite layer ``(users, items) ↦ (R̂ items, R̂ᵀ users)`` on stacked E."""

        def step(x: tf.Tensor) -> tf.Tensor:
            return tf.concat(matmul(x[:num_users], x[num_users:]), axis=0)

        return step

    def bipartite_sdmm(x: tf.Tensor) -> tf.Tensor:
        def matmul(users: tf.Tensor, items: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return (
                tf.raw_ops.SparseTensorDenseMatMul(
                    a_indices=block_idx32, a_values=block_val, a_shape=block_shape, b=items
                ),
                tf.raw_ops.SparseTensorDenseMatMul(
                    a_indices=block_t_idx32, a_values=block_t_val, a_shape=block_t_shape, b=users
                ),
            )

        return symmetric_gradient(polynomial(split(matmul), weights))(x)

    def bipartite_csr_stored(x: tf.Tensor) -> tf.Tensor:
        mat = csr_matrix(block_idx, block_val, (num_users, num_items))
        mat_t = csr_matrix(block_t_idx, block_t_val, (num_items, num_users))

        def matmul(users: tf.Tensor, items: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return (
                csr_ops.sparse_matrix_mat_mul(mat, items),
                csr_ops.sparse_matrix_mat_mul(mat_t, users),
            )

        return symmetric_gradient(polynomial(split(matmul), weights))(x)

    def bipartite_csr_transpose_a(x: tf.Tensor) -> tf.Tensor:
        mat = csr_matrix(block_idx, block_val, (num_users, num_items))

        def matmul(users: tf.Tensor, items: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return (
                csr_ops.sparse_matrix_mat_mul(mat, items),
                csr_ops.sparse_matrix_mat_mul(mat, users, transpose_a=True),
            )

        return symmetric_gradient(polynomial(split(matmul), weights))(x)

    def library(x: tf.Tensor) -> tf.Tensor:
        users, items = propagate(
            block_idx, block_val, x[:num_users], x[num_users:], num_layers, "mean"
        )
        return tf.concat([users, items], axis=0)

    def fp16(x: tf.Tensor) -> tf.Tensor:
        step = polynomial(lambda y: sdmm32(y, values16), weights)
        return tf.cast(symmetric_gradient(step)(tf.cast(x, tf.float16)), tf.float32)

    return {
        "sparse_dense_matmul": (
            "(1) tf.sparse.sparse_dense_matmul on Â (SparseTensor, int64), TF autodiff",
            polynomial(sdmm, weights),
        ),
        "sparse_dense_matmul+symgrad": (
            "(1) same, custom gradient P(Â) g",
            symmetric_gradient(polynomial(sdmm, weights)),
        ),
        "sdmm_int32": (
            "(1') raw SparseTensorDenseMatMul on Â with int32 indices, TF autodiff",
            polynomial(sdmm32, weights),
        ),
        "sdmm_int32+symgrad": (
            "(1') same, custom gradient",
            symmetric_gradient(polynomial(sdmm32, weights)),
        ),
        "csr_matmul": (
            "(2) CSR SparseMatrixMatMul on Â, COO->CSR in every layer, TF autodiff",
            polynomial(csr_per_layer, weights),
        ),
        "csr_matmul+symgrad": (
            "(2) CSR SparseMatrixMatMul on Â, one COO->CSR per call, custom gradient",
            csr_whole,
        ),
        "csr_conversion_only": (
            "(2) cost of one COO->CSR conversion of Â alone (part of the rows above)",
            csr_conversion,
        ),
        "gather+unsorted_segment_sum": (
            "(3) gather rows, scale, unsorted_segment_sum, TF autodiff",
            polynomial(unsorted_segment, weights),
        ),
        "gather+segment_sum": (
            "(3) gather rows, scale, segment_sum on sorted rows, TF autodiff",
            polynomial(sorted_segment, weights),
        ),
        "bipartite_sdmm+symgrad": (
            "(4) R̂ and R̂ᵀ blocks, 2 SparseTensorDenseMatMul (int32) per layer, custom gradient",
            bipartite_sdmm,
        ),
        "bipartite_csr_stored+symgrad": (
            "(4) R̂ and R̂ᵀ both stored, 2 CSR SparseMatrixMatMul per layer, custom gradient",
            bipartite_csr_stored,
        ),
        "bipartite_csr_transpose_a+symgrad": (
            "(4) R̂ only, R̂ᵀ x via SparseMatrixMatMul(transpose_a=True), custom gradient",
            bipartite_csr_transpose_a,
        ),
        "bipartite_csr+symgrad [tower]": (
            "(4) R̂ only, R̂ᵀ by one CSR transpose per call, custom gradient (propagation.propagate)",
            library,
        ),
        "sdmm_int32+symgrad fp16": (
            "(4) SparseTensorDenseMatMul on Â in float16 values and embeddings (NOT exact)",
            fp16,
        ),
    }


def compile_pair(prop: Propagation) -> tuple[Callable, Callable]:
    """Returns graph-mode ``E ↦ E_out`` and ``(E, W) ↦ (L, ∂L/∂E)``, ``L = ½ Σ W ⊙ E_out²``.

    The loss is not linear in ``E_out`` so that, as in training, the backward
    products need the forward output and cannot run concurrently with it.
    """

    @tf.function(jit_compile=False)
    def forward(x: tf.Tensor) -> tf.Tensor:
        return prop(x)

    @tf.function(jit_compile=False)
    def forward_backward(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = 0.5 * tf.reduce_sum(w * tf.square(prop(x)))
        return loss, tape.gradient(loss, x)

    return forward, forward_backward


def time_once(fn: Callable[[], object]) -> float:
    """Returns the wall time of one call, results fetched to host memory."""
    start = time.perf_counter()
    tf.nest.map_structure(lambda t: t.numpy(), fn())
    return time.perf_counter() - start


def reference(
    adjacency: sp.csr_matrix, embeddings: np.ndarray, upstream: np.ndarray, num_layers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Float64 SciPy output ``P(Â) E`` and gradient ``P(Âᵀ) (W ⊙ P(Â) E)`` of the loss."""
    weights = layer_weights(num_layers, "mean")
    a64 = adjacency.astype(np.float64)

    def poly(matrix: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
        total = weights[0] * x
        for weight in weights[1:]:
            x = matrix @ x
            total += weight * x
        return total

    out = poly(a64, embeddings.astype(np.float64))
    return out, poly(a64.T.tocsr(), upstream.astype(np.float64) * out)


def machine_info() -> dict:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def run(args: argparse.Namespace) -> dict:
    load_before = os.getloadavg()
    train, source = load_train(args.data_dir, args.seed, args.dataset)
    num_users, num_items = train.shape
    adjacency = normalized_adjacency(train)
    n, d = adjacency.shape[0], args.dim
    rng = np.random.default_rng(args.seed)
    e_np = rng.uniform(-0.01, 0.01, size=(n, d)).astype(np.float32)
    w_np = rng.standard_normal((n, d)).astype(np.float32)
    embeddings, upstream = tf.constant(e_np), tf.constant(w_np)
    ref_out, ref_grad = reference(adjacency, e_np, w_np, args.layers)
    out_scale, grad_scale = np.abs(ref_out).max(), np.abs(ref_grad).max()

    candidates = make_candidates(adjacency, num_users, args.layers)
    if args.only:
        candidates = {k: v for k, v in candidates.items() if any(s in k for s in args.only)}
    compiled = {}
    results = []
    for name, (description, prop) in candidates.items():
        forward, forward_backward = compile_pair(prop)
        out = forward(embeddings).numpy()
        grad = forward_backward(embeddings, upstream)[1].numpy()
        compiled[name] = (
            lambda f=forward: f(embeddings),
            lambda f=forward_backward: f(embeddings, upstream),
        )
        exact = name not in NOT_PROPAGATIONS
        results.append(
            {
                "name": name,
                "description": description,
                "output_rel_err": float(np.abs(out - ref_out).max() / out_scale) if exact else None,
                "gradient_rel_err": (
                    float(np.abs(grad - ref_grad).max() / grad_scale) if exact else None
                ),
            }
        )

    # Round robin over the candidates, so that load from other processes on a
    # shared machine spreads over all of them instead of hitting a few.
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in compiled}
    for repeat in range(args.warmup + args.repeats):
        for name, fns in compiled.items():
            for fn, bucket in zip(fns, times[name], strict=True):
                elapsed = time_once(fn)
                if repeat >= args.warmup:
                    bucket.append(elapsed)
    for row in results:
        fwd, fwdbwd = times[row["name"]]
        row.update(
            forward_ms=1e3 * statistics.median(fwd),
            forward_backward_ms=1e3 * statistics.median(fwdbwd),
            forward_min_ms=1e3 * min(fwd),
            forward_backward_min_ms=1e3 * min(fwdbwd),
            forward_runs_ms=[1e3 * t for t in fwd],
            forward_backward_runs_ms=[1e3 * t for t in fwdbwd],
        )
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(),
        # Other processes on a shared machine inflate the times: keep the load.
        "load_average_1_5_15min": {"start": list(load_before), "end": list(os.getloadavg())},
        "graph": {
            "source": source,
            "users": num_users,
            "items": num_items,
            "nodes": n,
            "train_pairs": int(train.nnz),
            "adjacency_nnz": int(adjacency.nnz),
        },
        "embedding_dim": d,
        "layers": args.layers,
        "combination": "mean",
        "warmup": args.warmup,
        "repeats": args.repeats,
        "results": results,
    }


def _err(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1e}"


def format_table(report: dict) -> str:
    graph, machine = report["graph"], report["machine"]
    lines = [
        f"graph: {graph['source']}: {graph['users']} users x {graph['items']} items, "
        f"{graph['nodes']} nodes, nnz(Â) = {graph['adjacency_nnz']}; d = "
        f"{report['embedding_dim']}, K = {report['layers']} (mean)",
        f"machine: nproc {machine['nproc']}, {machine['cpu_model']}, TF {machine['tensorflow']}; "
        f"load average (1 min) {report['load_average_1_5_15min']['start'][0]:.2f} at start, "
        f"{report['load_average_1_5_15min']['end'][0]:.2f} at end",
        f"median (and min) of {report['repeats']} runs after {report['warmup']} warm-up, "
        "candidates timed round robin",
        f"command: {report['command']}",
        "",
        "| candidate | forward ms | fwd+bwd ms | fwd min | fwd+bwd min | out rel err "
        "| grad rel err |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['name']} | {row['forward_ms']:.1f} | {row['forward_backward_ms']:.1f} "
            f"| {row['forward_min_ms']:.1f} | {row['forward_backward_min_ms']:.1f} "
            f"| {_err(row['output_rel_err'])} | {_err(row['gradient_rel_err'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset",
        default=None,
        help="train graph of this dataset (tfdirectspec.data.load_dataset, e.g. gowalla)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory with train.tsv (user<TAB>item) instead of --dataset",
    )
    parser.add_argument("--dim", type=int, default=64, help="embedding width d")
    parser.add_argument("--layers", type=int, default=3, help="propagation layers K")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per candidate")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per candidate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", nargs="*", default=None, help="run only candidates whose name contains these"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra- and inter-op threads of TensorFlow (0: its default, one per core)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    args = parser.parse_args(argv)
    if args.dataset is not None and args.data_dir is not None:
        parser.error("--dataset and --data-dir: give one")
    if args.repeats < 1 or args.warmup < 0 or args.layers < 0 or args.dim < 1:
        parser.error("--repeats and --dim must be ≥ 1, --warmup and --layers ≥ 0")

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    report = run(args)
    print(format_table(report))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
