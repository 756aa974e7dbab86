"""DirectSpec+ MF training step: achieved FLOP/s against this machine's own matmul FLOP/s.

Measures, in ONE process (the machine is shared: only same-process ratios mean
anything):

1. **Machine matmul FLOP/s**: float32 ``tf.matmul`` of square ``n × n`` matrices
   (``--matmul-sizes``, default 1024 and 2048) inside ``tf.function``,
   ``2·n³`` FLOPs per product; the best size's median is the reference ``R``.
2. **The real training step**: the library's ``RetrievalModel`` (``MFTower``,
   ``DirectSpecPlusLoss(α=1, τ=3)``) compiled by ``tfdirectspec.training.build_model``
   with ``steps_per_execution`` and run by ``model.fit``, at d = 64 and each
   ``--batch-sizes`` B, on CiteULike's table sizes (5,551 users, 16,980 items),
   with SGD (the authors' optimiser: the gradient is ``IndexedSlices``, only the
   batch's rows are updated) and with Adam (Keras 3's Adam turns the sparse
   gradient into dense updates of the whole tables and both moment slots every
   step). Three variants of step time per B:

   * ``fit_sampler``: ``model.fit`` on the library's ``InteractionSampler`` (the
     real run; the default ``TrainConfig``: α 1, τ 3, norm shrink 0.03, user
     sampler, SGD lr 180 with per-epoch decay, or Adam lr 1e-3);
   * ``fit_step``: ``model.fit`` on one pre-drawn batch repeated (no sampling);
   * ``loss_fwd_bwd``: the loss forward and backward on ``[B, d]`` rows alone
     (no gather, no optimiser, no Keras), in a ``tf.while_loop``;
   * ``matmuls_only``: only the step's matmuls, with the step's shapes
     (forward and backward), in a ``tf.while_loop``: the matmul time at the
     step's own (small) shapes.

3. **Analytic FLOPs of one step** (:func:`step_flops`). Per side (users, items)
   the filter ``X̃ = X − α·softmax(τ·X Xᵀ)·X`` on ``X`` = ``[B, d]`` does two
   matmuls of ``2·B²·d`` FLOPs each (``X Xᵀ`` and ``W·X``); the backward pass
   of a matmul is two matmuls of the same size (gradients of both operands),
   so forward + backward = 3× forward::

       matmul      = 3 · 2 sides · 2 products · 2·B²·d  = 24·B²·d
       elementwise ≈ 3 · 2 sides · 6·B²  (τ·, softmax: max, sub, exp, sum, div)
                   + 3 · (2 sides · 9·B·d + 2·B·d)   (per side: row normalisation 3,
                         residual 2, norm shrink 4; pair dots 2)
                   = 36·B² + 60·B·d      (backward ≈ 2× forward, an estimate)

   The matmul count is cross-checked with ``tf.compat.v1.profiler``'s
   ``float_ops`` on the traced forward + backward graph (its ``MatMul`` entry
   must equal ``24·B²·d`` exactly; its total covers only ops with registered
   counts, e.g. not ``Exp``/``Sigmoid`` gradients). The optimiser's FLOPs are
   not counted (SGD: ``4·B·d``; Adam: ~``10·(U+I)·d`` dense).

4. **Ratios**: achieved FLOP/s = counted FLOPs / step time, and its ratio to
   ``R`` (the reference measured right before and right after that batch size,
   median of the two: the load of a shared machine drifts), per B and optimiser
   (median of ``--repeats`` runs, each with a fresh model); plus the split of
   step time: ``sampler = fit_sampler − fit_step``,
   ``optimizer + gather + Keras = fit_step − loss_fwd_bwd``, ``loss elementwise
   = loss_fwd_bwd − matmuls_only``, and the fraction of the step that is not
   matmul, ``1 − matmuls_only / fit_sampler``.

The issue's target: the step reaches ≥ 70 % of ``R`` at B = 256, d = 64; the
JSON says whether it does, and the smallest B that does.

Findings on the shared 2-core CPU machine (load average 5–10 from other jobs;
the square-matmul reference itself moved between 32 and 145 GFLOP/s within a
run): ``docs/benchmarks/step_flops_citeulike.json`` (all six B, one global
reference) and ``step_flops_citeulike_small_batches.json`` (B 256–1024, local
references). The analytic matmul count equals the profiler's ``MatMul``
float_ops exactly (100,663,296 at B = 256). The SGD step at B = 256 takes
3.1–3.5 ms in both runs (30–33 GFLOP/s), 0.36–0.38 of the reference: the
≥ 70 % target is **not** met. The step's matmuls alone, at its shapes, take
0.4–0.8 ms, so 78–88 % of the step is not matmul: the loss's elementwise work
(normalisation, softmax, norm shrink, forward and backward) and per-op
overheads (gathers, the IndexedSlices update, Keras' step) dominate at this
size. The ratio peaks at B = 512–1024 (0.60–0.72 SGD; 0.72 at 1024 in the
first run, 0.66 at 512 in the second): no batch size reaches 0.70 reliably;
from B = 2048 on it falls back to ~0.5 (the ``B × B`` softmax matrices,
16–256 MB, stream through memory). Adam costs ~9 ms more per step (the dense
update of both tables and both moments, ``(U + I) · d`` floats each): 11.9–12.4
ms at B = 256 (ratio 0.10), converging on SGD at B ≥ 4096. The time split from
the looped loss/matmul variants is noisy (some residuals come out negative);
the fit times and the matmul-only times are the robust figures.

Run (from the repository root; ~20 minutes on the loaded 2 cores)::

    python pipelines/benchmarks/bench_step_flops.py --repeats 3 \\
        --out docs/benchmarks/step_flops_citeulike.json

Tiny smoke run (random ids, seconds)::

    python pipelines/benchmarks/bench_step_flops.py --data random --users 40 --items 60 \\
        --batch-sizes 8 16 --matmul-sizes 64 --repeats 1 --seconds 0.05

Output: one JSON object on stdout (and in ``--out``) with the machine
(platform, CPU model, cores), the command, ``R``, and per batch size and
optimiser the FLOP counts, median times, achieved FLOP/s, ratio to ``R`` and
the time split.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

import tfdirectspec
from _machine import cpu_model
from tfdirectspec.data import InteractionData
from tfdirectspec.losses import RetrievalLoss
from tfdirectspec.training import EpochTimer, TrainConfig, build_model
from tfdirectspec.training.builders import build_loss
from tfdirectspec.training.trainer import sampler_for

#: CiteULike (the embedded split): users, items.
CITEULIKE = (5_551, 16_980)
#: The issue's target: fraction of the machine's matmul FLOP/s at B = 256.
TARGET_FRACTION = 0.70


def step_flops(batch: int, dim: int) -> dict[str, int]:
    """FLOPs of one DirectSpec+ MF step (loss forward + backward), by kind.

    Example:
        >>> step_flops(4, 2)
        {'matmul': 768, 'elementwise': 1056, 'total': 1824}
    """
    matmul = 24 * batch * batch * dim
    elementwise = 36 * batch * batch + 60 * batch * dim
    return {"matmul": matmul, "elementwise": elementwise, "total": matmul + elementwise}


def loss_fn() -> RetrievalLoss:
    """The library's default loss: DirectSpec+ at the authors' CiteULike settings."""
    return build_loss(TrainConfig())


def profiler_flops(batch: int, dim: int) -> dict[str, int]:
    """``tf.compat.v1.profiler`` float_ops of the traced loss forward + backward graph."""
    loss = loss_fn()

    @tf.function
    def forward_backward(users: tf.Tensor, items: tf.Tensor):
        with tf.GradientTape() as tape:
            tape.watch([users, items])
            value = loss(tf.ones_like(users[:, 0]), {"user": users, "item": items})
        return value, tape.gradient(value, [users, items])

    spec = tf.TensorSpec([batch, dim], tf.float32)
    graph = forward_backward.get_concrete_function(spec, spec).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    report = tf.compat.v1.profiler.profile(graph, cmd="op", options=options)
    by_op = {child.name: int(child.float_ops) for child in report.children}
    return {"matmul": by_op.get("MatMul", 0), "total_registered": int(report.total_float_ops)}


def median_seconds(fn: Callable[[], object], calls: int) -> float:
    """Median wall time of ``fn()`` (its result materialised) over ``calls`` calls."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        result = fn()
        np.asarray(result)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_flops_per_second(size: int, calls: int) -> float:
    """FLOP/s of a float32 ``size × size`` matmul in ``tf.function`` (median of ``calls``)."""
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((size, size)), tf.float32)
    b = tf.constant(rng.standard_normal((size, size)), tf.float32)
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[:1, :1]))
    product()
    product()
    return 2 * size**3 / median_seconds(product, calls)


def looped(body: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]], steps: int):
    """A ``tf.function`` running ``body`` ``steps`` times on carried ``[B, d]`` rows.

    Each iteration's inputs depend on the previous one's outputs, so nothing is
    hoisted out of the loop or deduplicated.
    """

    @tf.function
    def run(users: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
        def step(i, u, v):
            du, dv = body(u, v)
            return i + 1, u - 1e-6 * du, v - 1e-6 * dv

        _, u, _ = tf.while_loop(lambda i, u, v: i < steps, step, [0, users, items])
        return u[0, 0]

    return run


def loss_body() -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """Loss forward + backward on the rows: returns the rows' gradients."""
    loss = loss_fn()

    def body(users: tf.Tensor, items: tf.Tensor):
        with tf.GradientTape() as tape:
            tape.watch([users, items])
            value = loss(tf.ones_like(users[:, 0]), {"user": users, "item": items})
        du, dv = tape.gradient(value, [users, items])
        return du, dv

    return body


def matmul_body(users: tf.Tensor, items: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The step's 24·B²·d matmul FLOPs with its shapes: per side 2 forward, 4 backward."""
    out = []
    for x in (users, items):
        s = tf.matmul(x, x, transpose_b=True)  # forward: X Xᵀ      [B, B]
        y = tf.matmul(s, x)  # forward: W X                          [B, d]
        gw = tf.matmul(y, x, transpose_b=True)  # backward of W X: dY Xᵀ  [B, B]
        gx = tf.matmul(s, y, transpose_a=True)  # backward of W X: Wᵀ dY  [B, d]
        gx += tf.matmul(gw, x)  # backward of X Xᵀ: dS X                [B, d]
        gx += tf.matmul(gw, x, transpose_a=True)  # backward of X Xᵀ: dSᵀ X  [B, d]
        out.append(gx)
    return out[0], out[1]


def loop_seconds_per_step(body, batch: int, dim: int, steps: int, calls: int) -> float:
    """Median seconds per iteration of ``body`` run ``steps`` times in one call."""
    rng = np.random.default_rng(1)
    users = tf.constant(rng.standard_normal((batch, dim)) / np.sqrt(dim), tf.float32)
    items = tf.constant(rng.standard_normal((batch, dim)) / np.sqrt(dim), tf.float32)
    run = looped(body, steps)
    run(users, items)
    return median_seconds(lambda: run(users, items), calls) / steps


def random_data(users: int, items: int, seed: int = 0) -> InteractionData:
    """Random interactions (~20 per user) on a ``users × items`` table, for tiny runs."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(users), 20)
    cols = rng.integers(0, items, rows.size)
    train = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(users, items))
    train.sum_duplicates()
    train.data[:] = 1.0
    empty = sp.csr_matrix((users, items), dtype=np.float32)
    return InteractionData(
        train=train.tocsr(),
        test=empty,
        valid=empty,
        user_ids=np.arange(users, dtype=np.int64),
        item_ids=np.arange(items, dtype=np.int64),
        name="random",
    )


def fit_seconds_per_step(
    config: TrainConfig, data: InteractionData, dataset: tf.data.Dataset, steps: int, epochs: int
) -> float:
    """Median seconds per step over ``epochs`` epochs of ``model.fit`` (a fresh, warmed model)."""
    model = build_model(config, data, steps)
    # Warm-up: one execution traces and compiles the step; the second fit reuses it.
    model.fit(dataset, epochs=1, steps_per_epoch=config.steps_per_execution, verbose=0)
    timer = EpochTimer()
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    return statistics.median(timer.seconds) / steps


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }


def measure_batch(
    batch: int, args: argparse.Namespace, data: InteractionData, reference: float
) -> dict:
    """All timings of one batch size (medians over ``args.repeats`` runs)."""
    flops = step_flops(batch, args.dim)
    # Enough steps per epoch for ~args.seconds of work at the reference rate.
    steps = max(2, math.ceil(args.seconds * reference / flops["total"]))
    spe = min(args.steps_per_execution, steps)
    steps = math.ceil(steps / spe) * spe
    loop_steps = max(2, min(steps, 256))
    loss_time = statistics.median(
        loop_seconds_per_step(loss_body(), batch, args.dim, loop_steps, 3)
        for _ in range(args.repeats)
    )
    matmul_time = statistics.median(
        loop_seconds_per_step(matmul_body, batch, args.dim, loop_steps, 3)
        for _ in range(args.repeats)
    )
    record: dict = {
        "batch_size": batch,
        "flops_per_step": flops,
        "steps_per_epoch_timed": steps,
        "steps_per_execution": spe,
        "loss_fwd_bwd_ms": round(loss_time * 1e3, 4),
        "matmuls_only_ms": round(matmul_time * 1e3, 4),
        "matmuls_only_flops_per_second": flops["matmul"] / matmul_time,
        "matmuls_only_over_reference": round(flops["matmul"] / matmul_time / reference, 4),
        "loss_fwd_bwd_over_reference": round(flops["total"] / loss_time / reference, 4),
    }
    for optimizer, lr in (("sgd", 180.0), ("adam", 1e-3)):
        config = TrainConfig(
            batch_size=batch, dim=args.dim, optimizer=optimizer, lr=lr, steps_per_execution=spe
        )
        sampler = sampler_for(config, data)
        fixed = next(iter(sampler.stream()))
        fixed_ds = tf.data.Dataset.from_tensors(fixed).repeat()
        with_sampler, fixed_step = [], []
        for repeat in range(args.repeats):
            config.seed = repeat
            with_sampler.append(
                fit_seconds_per_step(config, data, sampler.stream(), steps, args.epochs)
            )
            fixed_step.append(fit_seconds_per_step(config, data, fixed_ds, steps, args.epochs))
        full, step = statistics.median(with_sampler), statistics.median(fixed_step)
        achieved = flops["total"] / full
        record[optimizer] = {
            "fit_sampler_ms": round(full * 1e3, 4),
            "fit_step_ms": round(step * 1e3, 4),
            "fit_sampler_ms_runs": [round(t * 1e3, 4) for t in with_sampler],
            "achieved_flops_per_second": achieved,
            "ratio_to_reference": round(achieved / reference, 4),
            "ratio_to_reference_without_sampler": round(flops["total"] / step / reference, 4),
            "split_ms": {
                "matmuls": round(matmul_time * 1e3, 4),
                "loss_elementwise": round((loss_time - matmul_time) * 1e3, 4),
                "optimizer_gather_keras": round((step - loss_time) * 1e3, 4),
                "sampler": round((full - step) * 1e3, 4),
            },
            "fraction_not_matmul": round(1 - matmul_time / full, 4),
        }
        print(
            f"B={batch} {optimizer}: {full * 1e3:.2f} ms/step, "
            f"{achieved / 1e9:.1f} GFLOP/s = {achieved / reference:.1%} of matmul",
            file=sys.stderr,
        )
    return record


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192]
    )
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--matmul-sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--matmul-calls", type=int, default=7, help="timed calls per size")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per fit run")
    parser.add_argument("--seconds", type=float, default=1.0, help="target seconds per epoch")
    parser.add_argument("--steps-per-execution", type=int, default=32)
    parser.add_argument(
        "--data", choices=["citeulike", "random"], default="citeulike", help="interaction source"
    )
    parser.add_argument("--users", type=int, default=CITEULIKE[0], help="with --data random")
    parser.add_argument("--items", type=int, default=CITEULIKE[1], help="with --data random")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    command = shlex.join(
        ["python", "pipelines/benchmarks/bench_step_flops.py", *(argv or sys.argv[1:])]
    )

    if args.data == "citeulike":
        data = tfdirectspec.load_dataset("citeulike")
    else:
        data = random_data(args.users, args.items)

    def reference_round() -> dict[int, float]:
        return {n: matmul_flops_per_second(n, args.matmul_calls) for n in args.matmul_sizes}

    # The load of a shared machine drifts: each batch size is compared with the
    # reference measured right before and right after it (the median of the two).
    rounds = [reference_round()]
    batches = []
    for b in args.batch_sizes:
        record = measure_batch(b, args, data, max(rounds[-1].values()))
        rounds.append(reference_round())
        local = max(statistics.median([rounds[-2][n], rounds[-1][n]]) for n in args.matmul_sizes)
        record["local_reference_flops_per_second"] = local
        for key in ("matmuls_only", "loss_fwd_bwd"):
            record[f"{key}_over_reference"] = round(
                record[f"{key}_over_reference"] * max(rounds[-2].values()) / local, 4
            )
        for optimizer in ("sgd", "adam"):
            entry = record[optimizer]
            entry["ratio_to_reference"] = round(entry["achieved_flops_per_second"] / local, 4)
            entry["ratio_to_reference_without_sampler"] = round(
                record["flops_per_step"]["total"] / (entry["fit_step_ms"] * 1e-3) / local, 4
            )
        batches.append(record)
    reference = statistics.median(max(r.values()) for r in rounds)
    reaching = [
        r["batch_size"] for r in batches if r["sgd"]["ratio_to_reference"] >= TARGET_FRACTION
    ]
    at_256 = next((r for r in batches if r["batch_size"] == 256), None)
    result = {
        "benchmark": "DirectSpec+ MF step FLOP/s vs this machine's matmul FLOP/s",
        "command": command,
        "machine": machine(),
        "data": {
            "source": args.data,
            "users": data.num_users,
            "items": data.num_items,
            "train_interactions": data.num_train,
        },
        "dim": args.dim,
        "flop_formula": "matmul 24·B²·d + elementwise 36·B² + 60·B·d (forward + backward)",
        "profiler_cross_check": {
            str(b): {"analytic": step_flops(b, args.dim), "profiler": profiler_flops(b, args.dim)}
            for b in args.batch_sizes[:2]
        },
        "matmul_reference_flops_per_second": {
            "rounds_by_size": [{str(n): v for n, v in r.items()} for r in rounds],
            "median_of_rounds": reference,
        },
        "batches": batches,
        "target_fraction": TARGET_FRACTION,
        "sgd_meets_target_at_256": None
        if at_256 is None
        else at_256["sgd"]["ratio_to_reference"] >= TARGET_FRACTION,
        "sgd_batch_sizes_meeting_target": reaching,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
