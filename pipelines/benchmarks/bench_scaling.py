"""Scaling benchmark: each stage's seconds, peak memory and growth exponent, 1M → 100M pairs.

For each size ``N`` in ``--pairs`` it generates a synthetic log
(:func:`tfdirectspec.data.synthetic.synthesize`, power-law degrees, planted rank 16,
18-digit integer ids; sizes ``U = N/40`` users, ``I = N/80`` items), writes it as TSV and
as Parquet, and runs every stage in a fresh process, recording wall seconds and the
process's peak resident memory (``VmHWM``, TensorFlow's runtime included):

============== ==================================================================
stage          what is timed (cost model)
============== ==================================================================
synthesize     generating the log (O(N))
write          writing train/test as TSV and as Parquet (O(N))
load_tsv       ``load_data_dir`` of the TSV folder: parse, map ids, build CSR (O(N log N))
load_parquet   the same from Parquet
sampler        building the tf.data sampler and drawing batches (O(N) build, O(B) a batch)
mf_step        DirectSpec+ MF steps (LazyAdam, B = 256, d = 64); ``epoch_seconds`` =
               steps per epoch × seconds per step (O(N) an epoch); also the step's
               FLOP/s against a float32 matmul's FLOP/s in the same process
lightgcn_step  LightGCN propagation, forward (3 layers: O(nnz·d·L)), against a memory
               copy's bytes/s in the same process (only up to ``--lightgcn-max-pairs``)
evaluate       exact full ranking of a seeded sample of ``--eval-users`` test users over
               all items, with the 95 % interval (O(users sampled × I·d))
evaluate_exact every test user against every item (O(U·I·d): its exponent is taken
               against ``users × items``; only up to ``--exact-max-pairs``)
spectrum       the singular values of both tables (O((U + I)·d²))
export         the SavedModel: tables, id maps and exclusions in CSR (O(N + (U+I)·d))
serving        ``serving_default`` latency for one user, p50/p99 (O(I·d) a request)
============== ==================================================================

The growth exponent of a stage is the least-squares slope of log(seconds) against
log(N) over the sizes measured (1.0 = linear). Tables are random where the timing does
not depend on their values (evaluate, spectrum, export, serving).

Run from the repository root (each size's data is cached under ``--work``)::

    python pipelines/benchmarks/bench_scaling.py --pairs 1000000 10000000 100000000 \\
        --work /tmp/scaling --out docs/benchmarks/scaling.json --figure docs/scaling_stages.png

One stage by hand:
``python pipelines/benchmarks/bench_scaling.py --stage mf_step --data /tmp/scaling/n1000000``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = (
    "synthesize",
    "load_tsv",
    "load_parquet",
    "sampler",
    "mf_step",
    "lightgcn_step",
    "evaluate",
    "evaluate_exact",
    "spectrum",
    "export",
    "serving",
)
DIM = 64
BATCH = 256


def status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "mib": memory}


# -- stages (each runs in its own process) ---------------------------------------------


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def stage_synthesize(folder: Path, pairs: int) -> dict[str, Any]:
    from tfdirectspec.data.synthetic import synthesize
    from tfdirectspec.data.synthetic_write import write_synthetic

    data, seconds = _timed(lambda: synthesize(pairs, seed=0))
    out: dict[str, Any] = {"seconds": seconds, "pairs": len(data.train) + len(data.test)}
    for fmt in ("tsv", "parquet"):
        target = folder / fmt
        _, out[f"write_{fmt}_seconds"] = _timed(
            lambda fmt=fmt, target=target: write_synthetic(data, target, fmt=fmt, overwrite=True)
        )
        out[f"{fmt}_bytes"] = sum(f.stat().st_size for f in target.iterdir())
    return out


def _load(folder: Path, fmt: str = "parquet"):
    from tfdirectspec.data.datasets import load_data_dir

    return load_data_dir(folder / fmt)


def stage_load(folder: Path, fmt: str) -> dict[str, Any]:
    data, seconds = _timed(lambda: _load(folder, fmt))
    return {"seconds": seconds, **data.summary()}


def stage_sampler(folder: Path, batches: int = 2000) -> dict[str, Any]:
    from tfdirectspec.data.samplers import InteractionSampler

    data = _load(folder)
    sampler, build = _timed(
        lambda: InteractionSampler(data.train, BATCH, negatives=True, seed=0).stream()
    )
    stream = iter(sampler)
    next(stream)
    _, seconds = _timed(lambda: [next(stream) for _ in range(batches)])
    return {"seconds": build, "build_seconds": build, "ms_per_batch": seconds / batches * 1e3}


def _matmul_flops_per_second(size: int = 1024, calls: int = 9) -> float:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((size, size)), tf.float32)
    b = tf.constant(rng.standard_normal((size, size)), tf.float32)
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[:1, :1]))
    product()
    times = [_timed(lambda: product().numpy())[1] for _ in range(calls)]
    return 2 * size**3 / statistics.median(times)


def _step_flops(batch: int, dim: int) -> int:
    """FLOPs of a DirectSpec+ MF step, as ``bench_step_flops.py`` (a sibling) counts them."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_step_flops import step_flops

    return step_flops(batch, dim)["total"]


def _train_config(tower: str):
    from tfdirectspec.training.config import TrainConfig

    return TrainConfig(
        dataset=None,
        data_dir="synthetic",
        tower=tower,
        loss="directspec+",
        optimizer="lazy-adam",
        lr=0.01,
        lr_decay=1.0,
        batch_size=BATCH,
        dim=DIM,
        steps_per_execution=50,
    ).validate()


def stage_mf_step(folder: Path, steps: int = 2000) -> dict[str, Any]:
    from tfdirectspec.training import trainer

    data = _load(folder)
    config = _train_config("mf")
    sampler = trainer.sampler_for(config, data)
    model = trainer.build_model(config, data, sampler.steps_per_epoch)
    stream = sampler.stream()
    model.fit(stream, epochs=1, steps_per_epoch=100, verbose=0)  # tracing
    _, seconds = _timed(lambda: model.fit(stream, epochs=1, steps_per_epoch=steps, verbose=0))
    per_step = seconds / steps
    matmul = _matmul_flops_per_second()
    achieved = _step_flops(BATCH, DIM) / per_step
    return {
        "seconds": per_step * sampler.steps_per_epoch,
        "epoch_seconds": per_step * sampler.steps_per_epoch,
        "ms_per_step": per_step * 1e3,
        "steps_per_epoch": sampler.steps_per_epoch,
        "step_flops_per_second": achieved,
        "matmul_flops_per_second": matmul,
        "fraction_of_matmul": achieved / matmul,
    }


def _copy_bytes_per_second(mib: int = 256, calls: int = 7) -> float:
    import numpy as np

    src = np.ones(mib * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    times = [_timed(lambda: np.copyto(dst, src))[1] for _ in range(calls)]
    return 2 * src.nbytes / statistics.median(times)  # read + write


def stage_lightgcn_step(folder: Path, calls: int = 3) -> dict[str, Any]:
    import tensorflow as tf

    from tfdirectspec.training.builders import build_tower

    data = _load(folder)
    config = _train_config("lightgcn")
    tower, build = _timed(lambda: build_tower(config, data.train))
    propagate = tf.function(lambda: [t[:1] for t in tower.tables(training=False)])
    propagate()
    times = [_timed(lambda: [t.numpy() for t in propagate()])[1] for _ in range(calls)]
    seconds = statistics.median(times)
    nnz, rows = 2 * data.num_train, data.num_users + data.num_items
    # Per layer: the CSR (int32 index + float32 value per entry), one d-row read per entry,
    # the output rows written once.
    moved = config.layers * (8 * nnz + 4 * DIM * nnz + 4 * DIM * rows)
    copy = _copy_bytes_per_second()
    return {
        "seconds": seconds,
        "build_seconds": build,
        "bytes_per_second": moved / seconds,
        "copy_bytes_per_second": copy,
        "fraction_of_copy": moved / seconds / copy,
    }


def _random_tables(data, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    users = rng.standard_normal((data.num_users, DIM), dtype=np.float32)
    items = rng.standard_normal((data.num_items, DIM), dtype=np.float32)
    return users, items


def stage_evaluate(folder: Path, users: int | None) -> dict[str, Any]:
    from tfdirectspec.evaluation.ranking import full_ranking_metrics

    data = _load(folder)
    user_table, item_table = _random_tables(data)
    metrics, seconds = _timed(
        lambda: full_ranking_metrics(
            user_table,
            item_table,
            data.test,
            exclude=data.train,
            ks=(20,),
            sample_users=users,
            seed=0,
        )
    )
    return {
        "seconds": seconds,
        "users_sampled": metrics.get("users_sampled"),
        "users_evaluated": metrics.get("users_evaluated"),
        "items": data.num_items,
        "cells": (metrics.get("users_sampled") or metrics["users_evaluated"]) * data.num_items,
    }


def stage_spectrum(folder: Path) -> dict[str, Any]:
    from tfdirectspec.evaluation.spectrum import effective_ranks

    data = _load(folder)
    user_table, item_table = _random_tables(data)
    ranks, seconds = _timed(lambda: effective_ranks(user_table, item_table))
    return {"seconds": seconds, **{k: float(v) for k, v in ranks.items()}}


def stage_export(folder: Path) -> dict[str, Any]:
    from tfdirectspec.serving.export import export_tables
    from tfdirectspec.serving.module import ExportTables

    data = _load(folder)
    user_table, item_table = _random_tables(data)
    tables = ExportTables(user_table, item_table, data.user_ids, data.item_ids, data.train)
    target = folder / "export"
    version, seconds = _timed(lambda: export_tables(tables, target, warmup=False))
    size = sum(f.stat().st_size for f in Path(version).rglob("*") if f.is_file())
    return {"seconds": seconds, "bytes": size, "version": str(version)}


def stage_serving(folder: Path, calls: int = 200) -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf

    versions = sorted((folder / "export").iterdir(), key=lambda p: int(p.name))
    loaded, load_seconds = _timed(lambda: tf.saved_model.load(str(versions[-1])))
    serve = loaded.signatures["serving_default"]
    picks = np.random.default_rng(0).choice(loaded.user_ids.numpy(), size=calls + 10)
    times = []
    for j, user in enumerate(picks):
        request = tf.constant([user])
        _, seconds = _timed(lambda request=request: serve(user_ids=request)["item_ids"].numpy())
        if j >= 10:
            times.append(seconds * 1e3)
    times.sort()
    return {
        "seconds": statistics.median(times) / 1e3,
        "p50_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)],
        "load_seconds": load_seconds,
    }


def run_stage(stage: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from tfdirectspec import quiet_tensorflow_startup

    quiet_tensorflow_startup()  # no CPU-probe lines on stderr (a no-op once TF is loaded)
    import tensorflow  # noqa: F401  (its runtime is in every stage's baseline)

    base = status_mib("VmRSS")
    if stage == "synthesize":
        out = stage_synthesize(folder, args.size)
    elif stage in ("load_tsv", "load_parquet"):
        out = stage_load(folder, stage.split("_")[1])
    elif stage == "evaluate":
        out = stage_evaluate(folder, args.eval_users)
    elif stage == "evaluate_exact":
        out = stage_evaluate(folder, None)
    else:
        out = globals()[f"stage_{stage}"](folder)
    return {**out, "peak_rss_mib": status_mib("VmHWM"), "start_rss_mib": base}


# -- driver ----------------------------------------------------------------------------


def growth_exponent(sizes: list[float], seconds: list[float]) -> float | None:
    """Least-squares slope of log(seconds) on log(size).

    Example:
        >>> round(growth_exponent([1e6, 1e7, 1e8], [1.0, 10.0, 100.0]), 6)
        1.0
    """
    points = [(math.log(n), math.log(s)) for n, s in zip(sizes, seconds, strict=True) if s > 0]
    if len(points) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def stage_points(report: dict[str, Any], stage: str) -> list[tuple[int, float]]:
    """``[(pairs, seconds), …]`` of a stage over the sizes measured, smallest first."""
    points = []
    for n in sorted(int(key) for key in report["sizes"]):
        seconds = report["sizes"][str(n)].get(stage, {}).get("seconds")
        if seconds:
            points.append((n, float(seconds)))
    return points


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(report, f, indent=1)
    os.replace(f.name, path)


def drive(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "machine": machine(),
        "command": "python " + " ".join(sys.argv),
        "sizes": {},
    }
    if args.out and Path(args.out).exists() and args.keep:
        report = json.loads(Path(args.out).read_text())
        commands = report["command"] if isinstance(report["command"], list) else [report["command"]]
        report["command"] = [*commands, "python " + " ".join(sys.argv)]
    for pairs in args.pairs:
        folder = Path(args.work) / f"n{pairs}"
        folder.mkdir(parents=True, exist_ok=True)
        results = report["sizes"].setdefault(str(pairs), {})
        for stage in args.stages:
            done_before = stage in results and "skipped" not in results[stage]
            if done_before and args.keep and not args.rerun:
                continue
            if stage == "evaluate_exact" and pairs > args.exact_max_pairs:
                results[stage] = {"skipped": f"above --exact-max-pairs {args.exact_max_pairs}"}
                continue
            if stage == "lightgcn_step" and pairs > args.lightgcn_max_pairs:
                results[stage] = {
                    "skipped": f"above --lightgcn-max-pairs {args.lightgcn_max_pairs}"
                }
                continue
            if stage == "synthesize" and (folder / "parquet").exists() and args.keep:
                continue
            command = [
                sys.executable,
                __file__,
                "--stage",
                stage,
                "--data",
                str(folder),
                "--size",
                str(pairs),
                "--eval-users",
                str(args.eval_users),
            ]
            print(f"[{pairs:,} pairs] {stage} ...", file=sys.stderr, flush=True)
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            if done.returncode != 0:
                tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
                results[stage] = {"failed": tail[0], "returncode": done.returncode}
            else:
                results[stage] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"    {results[stage]}", file=sys.stderr, flush=True)
            if args.out:
                write_json(Path(args.out), report)
    report["exponents"] = {}
    for stage in STAGES:
        points = stage_points(report, stage)
        report["exponents"][stage] = growth_exponent([n for n, _ in points], [s for _, s in points])
    # Exact evaluation grows with users × items by design: its exponent in that product.
    cells = [
        (result["evaluate_exact"]["cells"], result["evaluate_exact"]["seconds"])
        for result in report["sizes"].values()
        if "cells" in result.get("evaluate_exact", {})
    ]
    report["exponents"]["evaluate_exact_in_users_x_items"] = growth_exponent(
        [c for c, _ in cells], [s for _, s in cells]
    )
    if args.out:
        write_json(Path(args.out), report)
    if args.figure:
        plot(report, Path(args.figure))
    return report


def markdown_table(report: dict[str, Any]) -> str:
    """The README's table: seconds and peak RSS of each stage at each size, and the exponent."""
    sizes = sorted(int(n) for n in report["sizes"])
    head = "| stage | " + " | ".join(f"{n / 1e6:g}M: s (peak MiB)" for n in sizes) + " | exponent |"
    lines = [head, "|---" * (len(sizes) + 2) + "|"]
    for stage in STAGES:
        cells = []
        for n in sizes:
            r = report["sizes"][str(n)].get(stage, {})
            if "seconds" in r:
                cells.append(f"{r['seconds']:.3g} ({r['peak_rss_mib']:,.0f})")
            else:
                cells.append("skipped" if "skipped" in r else ("failed" if r else "–"))
        exponent = report["exponents"].get(stage)
        if stage == "evaluate_exact":
            exponent = report["exponents"].get("evaluate_exact_in_users_x_items")
        shown = "–" if exponent is None else f"{exponent:.2f}"
        lines.append(f"| {stage} | " + " | ".join(cells) + f" | {shown} |")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for stage in STAGES:
        points = stage_points(report, stage)
        if not points:
            continue
        exponent = report["exponents"].get(stage)
        label = stage + (f" (slope {exponent:.2f})" if exponent is not None else "")
        ax.loglog([n for n, _ in points], [s for _, s in points], marker="o", label=label)
    ax.set_xlabel("interactions (pairs)")
    ax.set_ylabel("seconds (mf_step: one epoch; serving: one request)")
    ax.set_title("Cost of each stage against data size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--work", default="/tmp/tfdirectspec-scaling")
    parser.add_argument("--out")
    parser.add_argument("--figure")
    parser.add_argument("--keep", action="store_true", help="reuse stages already in --out")
    parser.add_argument(
        "--rerun", action="store_true", help="with --keep: run the --stages given again"
    )
    parser.add_argument("--eval-users", type=int, default=2000)
    parser.add_argument("--lightgcn-max-pairs", type=int, default=10_000_000)
    parser.add_argument("--exact-max-pairs", type=int, default=10_000_000)
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--table", action="store_true", help="print --out's markdown table")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        print(json.dumps(run_stage(args.stage, Path(args.data), args)))
        return 0
    if args.table:
        report = json.loads(Path(args.out).read_text())
        if args.figure:
            plot(report, Path(args.figure))
        print(markdown_table(report))
        return 0
    report = drive(args)
    print(json.dumps(report["exponents"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
