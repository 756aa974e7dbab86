"""The scaling model of docs/scaling.md, computed from the benchmark records.

Reads ``docs/benchmarks/multiworker_citeulike.json``
(``pipelines/benchmarks/bench_multiworker.py``), optionally its LightGCN twin and
``docs/benchmarks/memory_peak_rss.json`` (``pipelines/benchmarks/bench_memory.py``), and
predicts the time of one data-parallel step on ``N`` machines::

    T(N) = C_split / N + C_fixed + H(N) · α + S(N) / β

* ``C_split``: the step's compute that data parallelism divides, the measured
  one-process ms/step at the default execution size (for DirectSpec+ MF this is mostly
  the ``24·b·B·d``-FLOP filter, which does split: each worker filters its ``b = B/N``
  rows against the ``B`` gathered ones); for LightGCN nothing but the loss splits, as
  every worker propagates the whole graph, so ``C_split`` = 0 and ``C_fixed`` is all of it;
* ``C_fixed``: what every worker pays per step whatever ``N``: the per-step dispatch of
  Keras and TensorFlow, measured as ms/step at one step per execution minus ms/step at
  the default execution size (multi-worker runs one step per execution);
* ``H(N) · α``: latency, ``H(N)`` ring hops per step (the analytic count of
  ``bench_multiworker.step_collectives``; 24·(N−1) for DirectSpec+ MF) times ``α`` per
  hop, assumed 50 µs or 100 µs on a real data-centre network (gRPC round trip through
  the collective executor; the loopback figure measured here, on 2 shared cores, is
  printed next to it);
* ``S(N) / β``: the analytic bytes each worker sends per step over the line rate ``β``
  (10, 25, 100 Gb/s), assuming the ring keeps the link busy (no framing: the
  measured TCP payload is within a few per cent of ``S``).

The collectives are taken as sequential (the dependent ones are; the user and item
gathers could overlap, which the model ignores), and compute does not overlap
communication. Every figure it prints is an extrapolation from the measured constants,
and says so; ``--out`` writes them as JSON.

    PYTHONPATH=. python pipelines/benchmarks/scaling_model.py \\
        --out docs/benchmarks/scaling_model.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# Siblings in pipelines/benchmarks/ (the script's folder is on the import path).
import bench_memory as memory
import bench_multiworker as bench

MACHINES = (1, 2, 4, 8, 16, 32)
BANDWIDTHS_GBPS = (10, 25, 100)
HOP_LATENCIES_US = (50, 100)
GIB = 1 << 30


def single_process(record: dict[str, Any]) -> tuple[float, float]:
    """``(ms/step at one step per execution, ms/step at the largest)`` of the 1-worker rows."""
    rows = sorted(
        (r for r in record["rows"] if r["workers"] == 1), key=lambda r: r["steps_per_execution"]
    )
    return rows[0]["ms_per_step_median"], rows[-1]["ms_per_step_median"]


def predict(
    scenario: dict[str, Any], machines: int, hop_us: float, gbps: float
) -> dict[str, float]:
    """Predicted ms per step on ``machines`` machines, by term."""
    step = bench.analytic_step(
        scenario["tower"],
        scenario["loss"],
        machines,
        scenario["batch"],
        scenario["dim"],
        scenario["users"],
        scenario["items"],
        scenario.get("group_size", 0),
    )
    # One machine runs its best execution size; N > 1 run one step per execution.
    compute = (
        scenario["best_ms"]
        if machines == 1
        else scenario["split_ms"] / machines + scenario["fixed_ms"]
    )
    latency = step["ring_hops"] * hop_us / 1000
    transfer = step["bytes_sent_per_worker"] * 8 / (gbps * 1e9) * 1000
    return {
        "compute_ms": compute,
        "latency_ms": latency,
        "transfer_ms": transfer,
        "step_ms": compute + latency + transfer,
        "bytes_per_worker": step["bytes_sent_per_worker"],
        "ring_hops": step["ring_hops"],
    }


def scenario_of(record: dict[str, Any], source: str) -> dict[str, Any]:
    """The modelled setting of one benchmark record, with its measured compute."""
    spe1, best = single_process(record)
    config, data = record["config"], record["data"]
    scenario = {
        "tower": config["tower"],
        "loss": config["loss"],
        "batch": config["batch_size"],
        "dim": config["dim"],
        "group_size": config["group_size"],
        "users": data["users"],
        "items": data["items"],
        "train_pairs": data["train_pairs"],
        "source": source,
        "best_ms": best,
    }
    grouped = f", blocks of {config['group_size']}" if config["group_size"] else ""
    name = (
        f"{config['loss']} {config['tower']}, {config['dataset']}, "
        f"B = {config['batch_size']:,}{grouped}, d = {config['dim']}"
    )
    if config["tower"] == "lightgcn":
        # Every worker propagates the whole graph: nothing but the loss is divided.
        return {
            **scenario,
            "name": name,
            "fixed_ms": spe1,
            "split_ms": 0.0,
            "compute_source": "measured one-process ms/step (one step per execution), not "
            "divided: every worker propagates the whole graph",
        }
    return {
        **scenario,
        "name": name,
        # A dispatch cost below the noise (one step per execution no slower) counts as 0.
        "fixed_ms": max(spe1 - best, 0.0),
        "split_ms": best,
        "compute_source": "measured one-process ms/step (default execution size) divided by "
        "N, plus the measured per-step dispatch (one step per execution minus default)",
    }


def gowalla_sized(lightgcn: dict[str, Any]) -> dict[str, Any]:
    """The LightGCN setting with Gowalla's tables and graph (extrapolated compute)."""
    users, items, pairs = 29_858, 40_981, 810_128
    return {
        **lightgcn,
        "name": lightgcn["name"].replace("citeulike", "Gowalla-sized tables and graph"),
        "users": users,
        "items": items,
        "train_pairs": pairs,
        "fixed_ms": lightgcn["fixed_ms"] * pairs / lightgcn["train_pairs"],
        "best_ms": lightgcn["best_ms"] * pairs / lightgcn["train_pairs"],
        "compute_source": "CiteULike's measured ms/step × Gowalla/CiteULike train pairs "
        "(the propagation is linear in the edges; extrapolated)",
    }


def crossover(scenario: dict[str, Any], hop_us: float, gbps: float) -> int | None:
    """The fewest machines (of ``MACHINES``) at which communication outweighs compute."""
    for n in MACHINES[1:]:
        p = predict(scenario, n, hop_us, gbps)
        if p["latency_ms"] + p["transfer_ms"] > p["compute_ms"]:
            return n
    return None


def loopback_check(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The model on this machine's loopback (measured α and β) against the measured step.

    On one machine the workers share the cores, so compute is not divided: the check
    uses the one-process ms/step (one step per execution) for every N; LightGCN's
    propagation, which every worker repeats, needs N × its CPU time on the machine's
    cores, so its compute is at least ``N · CPU ms / cores``. Two latency
    terms: ``per_hop`` is the extrapolation's (ring hops × the 4-byte all-reduce's time
    per hop); ``per_collective`` charges each all-reduce the 4-byte all-reduce's time and
    each all-gather collective half the timed row all-gather (shape + rows).
    """
    spe1, _ = single_process(record)
    one = min(
        (r for r in record["rows"] if r["workers"] == 1), key=lambda r: r["steps_per_execution"]
    )
    replicated = record["config"]["tower"] == "lightgcn"
    cores = record["machine"]["nproc"]
    out = []
    for row in record["rows"]:
        if row["workers"] == 1:
            continue
        compute = spe1
        if replicated:
            compute = max(spe1, row["workers"] * one["cpu_ms_per_step_per_worker_median"] / cores)
        timings = row["collective_timings"]
        hop = timings["allreduce_4B"]["seconds_per_hop"]
        reduce_s = timings["allreduce_4B"]["seconds_per_collective_median"]
        gather_s = timings["allgather_rows"]["seconds_per_collective_median"] / 2
        rate = timings["allreduce_4MiB"]["sent_bytes_per_second"]
        analytic = row["analytic"]
        transfer = analytic["bytes_sent_per_worker"] / rate * 1000
        per_hop = analytic["ring_hops"] * hop * 1000
        per_collective = 1000 * (
            analytic["all_reduces"] * reduce_s + analytic["all_gathers"] * gather_s
        )
        out.append(
            {
                "workers": row["workers"],
                "measured_ms_per_step": row["ms_per_step_median"],
                "compute_ms": compute,
                "hop_latency_us_loopback": hop * 1e6,
                "allreduce_us_loopback": reduce_s * 1e6,
                "allgather_collective_us_loopback": gather_s * 1e6,
                "loopback_bytes_per_second": rate,
                "transfer_ms": transfer,
                "latency_ms_per_hop_model": per_hop,
                "latency_ms_per_collective_model": per_collective,
                "predicted_ms_per_step_per_hop_model": compute + per_hop + transfer,
                "predicted_ms_per_step_per_collective_model": compute + per_collective + transfer,
                "cores_busy": row["workers"]
                * row["cpu_ms_per_step_per_worker_median"]
                / row["ms_per_step_median"],
            }
        )
    return out


def memory_table(pairs_per_row: float) -> list[dict[str, Any]]:
    """The most users + items that fit one worker, by width, optimizer, tower and budget."""
    out = []
    for dim in (64, 128):
        for tower in ("mf", "lightgcn"):
            for optimizer in ("sgd", "adam"):
                out.append(
                    {
                        "dim": dim,
                        "tower": tower,
                        "optimizer": optimizer,
                        "pairs_per_row": pairs_per_row,
                        **{
                            f"max_rows_{gb}GB": memory.largest_rows(
                                gb * GIB, tower, optimizer, dim, pairs_per_row
                            )
                            for gb in (24, 256)
                        },
                    }
                )
    return out


def bench_table(record: dict[str, Any]) -> str:
    """The measured rows of a bench_multiworker record as a markdown table."""
    lines = [
        "| workers | strategy, steps per execution | steps/s | ms/step | CPU ms/step per worker "
        "| bytes/step per worker: TCP payload (loopback incl. headers) | analytic | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in record["rows"]:
        analytic = row["analytic"]["bytes_sent_per_worker"]
        if row["workers"] > 1:
            tcp = row["tcp_payload_bytes_per_step_per_worker_median"]
            lo = row["loopback_bytes_per_step_per_worker_median"]
            measured = f"{tcp / 1e3:,.1f} kB ({lo / 1e3:,.1f} kB)"
            ratio = f"{tcp / analytic:.3f}"
        else:
            measured, ratio = "0", "–"
        lines.append(
            f"| {row['workers']} | {row['strategy']}, {row['steps_per_execution']} "
            f"| {row['steps_per_second_median']:.1f} | {row['ms_per_step_median']:.2f} "
            f"| {row['cpu_ms_per_step_per_worker_median']:.2f} | {measured} "
            f"| {analytic / 1e3:,.1f} kB | {ratio} |"
        )
    return "\n".join(lines)


def loopback_hop_us(records: dict[str, dict[str, Any]]) -> float | None:
    """The 4-byte all-reduce's time per ring hop at the fewest workers measured (µs)."""
    rows = [
        row
        for record in records.values()
        for row in record["rows"]
        if row["workers"] > 1 and "collective_timings" in row
    ]
    if not rows:
        return None
    row = min(rows, key=lambda r: r["workers"])
    return row["collective_timings"]["allreduce_4B"]["seconds_per_hop"] * 1e6


def key(hop_us: float, gbps: float) -> str:
    """The JSON key of a prediction at ``hop_us`` µs per hop and ``gbps`` Gb/s."""
    return f"{hop_us:.0f}us_{gbps:g}gbps"


def headline(report: dict[str, Any]) -> str:
    """One row per setting: speed-ups at α = 50 µs, 25 Gb/s and where communication wins."""
    lines = [
        "| setting (one machine's measured step) | 1 machine, ms/step | "
        + " | ".join(f"N = {n}" for n in MACHINES[1:])
        + " | communication > compute from N = (α 50 / 100 µs) |",
        "|---|---|" + "---|" * (len(MACHINES) - 1) + "---|",
    ]
    for s in report["scenarios"]:
        cross = s["communication_dominates_from"]
        where = " / ".join(
            str(cross[f"α = {hop} µs, 25 Gb/s"] or "> 32") for hop in HOP_LATENCIES_US
        )
        speedups = " | ".join(f"{row['speedup'][key(50, 25)]:.2f}×" for row in s["predictions"][1:])
        one = s["predictions"][0][key(50, 25)]["step_ms"]
        lines.append(f"| {s['name']} | {one:.2f} | {speedups} | {where} |")
    return "\n".join(lines)


def markdown(
    report: dict[str, Any], records: dict[str, dict[str, Any]], hops_us: list[float]
) -> str:
    """The tables of docs/scaling.md."""
    lines = [
        "#### Headline (extrapolated; speed-up vs 1 machine at its best execution size, "
        "α = 50 µs, 25 Gb/s)",
        "",
    ]
    lines += [headline(report), ""]
    for record in records.values():
        lines += [f"#### Measured: `{record['command']}`", "", bench_table(record), ""]
    lines += [
        "#### Loopback check: the model with this machine's measured α and β "
        "(compute on the shared cores)",
        "",
        "| record | N | measured ms/step | compute | latency: per hop / per collective "
        "| transfer | predicted: per hop / per collective | cores busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path, checks in report["loopback_check"].items():
        for c in checks:
            lines.append(
                f"| {Path(path).stem} | {c['workers']} | {c['measured_ms_per_step']:.1f} "
                f"| {c['compute_ms']:.2f} | {c['latency_ms_per_hop_model']:.1f} / "
                f"{c['latency_ms_per_collective_model']:.1f} | {c['transfer_ms']:.1f} "
                f"| {c['predicted_ms_per_step_per_hop_model']:.1f} / "
                f"{c['predicted_ms_per_step_per_collective_model']:.1f} | {c['cores_busy']:.2f} |"
            )
    lines.append("")
    slow = hops_us[-1]
    for s in report["scenarios"]:
        lines += [
            f"#### {s['name']} (extrapolated)",
            "",
            f"Compute: {s['compute_source']}: {s['split_ms']:.3f} ms ÷ N + "
            f"{s['fixed_ms']:.3f} ms per step (one machine at its best execution size: "
            f"{s['best_ms']:.3f} ms).",
            "",
            "| N | bytes sent / worker / step | ring hops | compute ms "
            "| step ms, α = 50 µs: 10 / 25 / 100 Gb/s | step ms, α = 100 µs, 25 Gb/s "
            f"| step ms, α = {slow:.0f} µs (loopback), 25 Gb/s "
            "| speed-up vs 1 machine (α = 50 / 100 µs, 25 Gb/s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in s["predictions"]:
            p50 = {g: row[key(50, g)] for g in BANDWIDTHS_GBPS}
            fast = " / ".join(f"{p50[g]['step_ms']:.2f}" for g in BANDWIDTHS_GBPS)
            lines.append(
                f"| {row['machines']} | {p50[10]['bytes_per_worker'] / 1e3:,.0f} kB "
                f"| {p50[10]['ring_hops']} | {p50[10]['compute_ms']:.2f} | {fast} "
                f"| {row[key(100, 25)]['step_ms']:.2f} | {row[key(slow, 25)]['step_ms']:.2f} "
                f"| {row['speedup'][key(50, 25)]:.2f} / {row['speedup'][key(100, 25)]:.2f} |"
            )
        cross = s["communication_dominates_from"]
        lines += [
            "",
            "Communication (latency + transfer) exceeds compute from N = "
            + "; ".join(f"{v if v else '> 32'} at {k}" for k, v in cross.items())
            + ".",
            "",
        ]
    lines += [
        "#### Memory: the most users + items one worker holds (formula; 1 GiB runtime)",
        "",
        "| pairs per row | d | tower | optimizer | 24 GiB | 256 GiB |",
        "|---|---|---|---|---|---|",
    ]
    for ratio, rows in report["memory_largest"].items():
        for r in rows:
            lines.append(
                f"| {r['pairs_per_row']:.1f} ({ratio.split('_')[0]}) | {r['dim']} | {r['tower']} "
                f"| {r['optimizer']} | {r['max_rows_24GB'] / 1e6:,.1f} M "
                f"| {r['max_rows_256GB'] / 1e6:,.0f} M |"
            )
    if "memory_measured" in report:
        lines += [
            "",
            "| memory case | measured peak above data | formula | measured / formula |",
            "|---|---|---|---|",
        ]
        for name, m in report["memory_measured"].items():
            lines.append(
                f"| {name} | {m['measured_peak_above_data_mib']:,.0f} MiB "
                f"| {m['formula_total_mib']:,.0f} MiB | {m['measured_over_formula']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bench",
        nargs="+",
        default=[
            "docs/benchmarks/multiworker_citeulike.json",
            "docs/benchmarks/multiworker_citeulike_b4096.json",
            "docs/benchmarks/multiworker_citeulike_b4096_grouped.json",
            "docs/benchmarks/multiworker_citeulike_lightgcn.json",
        ],
        help="bench_multiworker.py records (missing files are skipped)",
    )
    parser.add_argument("--memory", default="docs/benchmarks/memory_peak_rss.json")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    records = {
        path: json.loads(Path(path).read_text()) for path in args.bench if Path(path).is_file()
    }
    if not records:
        parser.error("none of the --bench files exists")
    # The model needs the one-process compute: records without a 1-worker run are shown only.
    timed = {path: r for path, r in records.items() if any(x["workers"] == 1 for x in r["rows"])}
    modelled = [scenario_of(record, path) for path, record in timed.items()]
    modelled += [gowalla_sized(s) for s in modelled if s["tower"] == "lightgcn"]
    loopback = loopback_hop_us(records)
    hops_us = [*HOP_LATENCIES_US, *([round(loopback)] if loopback else [])]
    report: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "inputs": list(records),
        "model": "T(N) = C_split/N + C_fixed + H(N)·α + S(N)/β (extrapolated; see docstring)",
        "hop_latencies_us": hops_us,
        "hop_latency_us_loopback_measured": loopback,
        "bandwidths_gbps": list(BANDWIDTHS_GBPS),
        "loopback_check": {path: loopback_check(record) for path, record in timed.items()},
        "scenarios": [],
    }
    for scenario in modelled:
        base = scenario["best_ms"]
        predictions = []
        for n in MACHINES:
            row: dict[str, Any] = {"machines": n}
            for hop in hops_us:
                for gbps in BANDWIDTHS_GBPS:
                    row[key(hop, gbps)] = predict(scenario, n, hop, gbps)
            row["speedup"] = {k: base / v["step_ms"] for k, v in row.items() if isinstance(v, dict)}
            predictions.append(row)
        scenario["predictions"] = predictions
        scenario["communication_dominates_from"] = {
            f"α = {hop:.0f} µs, {gbps} Gb/s": crossover(scenario, hop, gbps)
            for hop in hops_us
            for gbps in BANDWIDTHS_GBPS
        }
        report["scenarios"].append(scenario)
    if Path(args.memory).is_file():
        measured = json.loads(Path(args.memory).read_text())
        report["memory_input"] = args.memory
        report["memory_measured"] = {
            name: {
                "measured_peak_above_data_mib": case["measured_peak_above_data_mib"],
                "formula_total_mib": case["formula_mib"]["total"],
                "measured_over_formula": case["measured_over_formula"],
            }
            for name, case in measured["cases"].items()
        }
    report["memory_largest"] = {
        "citeulike_ratio": memory_table(166_003 / 22_531),
        "gowalla_ratio": memory_table(810_128 / 70_839),
    }
    print(markdown(report, records, hops_us))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
