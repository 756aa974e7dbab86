"""Time and peak memory of ``tfdirectspec recommend --all`` on a run, and a check of its file.

Runs ``tfdirectspec recommend --model RUN --all --k K --output recs.parquet`` under
``/usr/bin/time -v`` (wall time, peak RSS), then the same for a seeded sample of
``--sample-fraction`` of the users (``--users FILE``): memory that does not grow with the
number of users shows as two close peaks. The written file is checked: ``K`` rows per
user, ranks ``1..K``, and no item of the user's train ∪ valid pairs (the run's
``exclusions.npz``). Writes a JSON record and prints a small table.

Example (the 10M-pair synthetic log, one epoch; README, "Recommendations out")::

    tfdirectspec synthesize --pairs 10000000 --output D
    tfdirectspec train --data-dir D --loss directspec+ --epochs 1 --eval-users 5000 --output R
    python pipelines/benchmarks/bench_recommend.py R --k 20 --work W \\
        --out docs/benchmarks/recommend_10m.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def timed(argv: list[str]) -> dict[str, float]:
    """Runs ``argv`` under ``/usr/bin/time -v``: wall seconds, peak RSS (MiB), CPU seconds."""
    done = subprocess.run(
        ["/usr/bin/time", "-v", *argv], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr[-2000:]}")
    report = done.stderr

    def field(name: str) -> str:
        return re.search(rf"{re.escape(name)}: (.+)", report).group(1).strip()

    clock = [float(p) for p in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    wall = sum(v * 60**i for i, v in enumerate(reversed(clock)))
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mib": round(int(field("Maximum resident set size (kbytes)")) / 1024, 1),
    }


def check_file(path: Path, run: Path, k: int, users: np.ndarray) -> dict[str, object]:
    """Rows per user, ranks and seen items of a written recommendations file."""
    import pyarrow.parquet as pq
    import scipy.sparse as sp

    ids = np.load(run / "id_maps.npz", allow_pickle=False)
    user_ids, item_ids = ids["user_ids"], ids["item_ids"]
    seen = sp.load_npz(run / "exclusions.npz").tocsr()
    meta = pq.ParquetFile(path).metadata
    table = pq.read_table(path)
    u = np.searchsorted(user_ids, table["user_id"].to_numpy())
    i = np.searchsorted(item_ids, table["item_id"].to_numpy())
    assert (user_ids[u] == table["user_id"].to_numpy()).all()
    counts = np.bincount(u, minlength=len(user_ids))
    hit = np.zeros(len(u), dtype=bool)
    for start in range(0, len(u), 1_000_000):
        uu, ii = u[start : start + 1_000_000], i[start : start + 1_000_000]
        hit[start : start + len(uu)] = np.asarray(seen[uu, ii]).reshape(-1) > 0
    ranks = table["rank"].to_numpy()
    return {
        "rows": int(meta.num_rows),
        "row_groups": int(meta.num_row_groups),
        "file_mib": round(path.stat().st_size / 2**20, 1),
        "users_with_k_rows": int((counts[users] == k).sum()),
        "users_requested": int(len(users)),
        "seen_items_recommended": int(hit.sum()),
        "ranks_ok": bool(ranks.min() == 1 and ranks.max() == k),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run directory")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--sample-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the files (default: a temp one)")
    parser.add_argument("--out", type=Path, help="JSON record to write")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-recommend-"))
    work.mkdir(parents=True, exist_ok=True)
    user_ids = np.load(args.run / "id_maps.npz", allow_pickle=False)["user_ids"]
    rng = np.random.default_rng(args.seed)
    sample = np.sort(rng.choice(len(user_ids), int(args.sample_fraction * len(user_ids)), False))
    users_file = work / "users.txt"
    users_file.write_text("".join(f"{v}\n" for v in user_ids[sample]))
    command = [sys.executable, "-m", "tfdirectspec", "recommend", "--model", str(args.run)]
    cases = {
        "all": (["--all"], np.arange(len(user_ids))),
        f"sample_{args.sample_fraction:g}": (["--users", str(users_file)], sample),
    }
    record: dict[str, object] = {
        "run": str(args.run),
        "k": args.k,
        "users": int(len(user_ids)),
        "items": int(len(np.load(args.run / "id_maps.npz")["item_ids"])),
        "cases": {},
    }
    for name, (flags, users) in cases.items():
        output = work / f"recs_{name}.parquet"
        argv_case = [*command, *flags, "--k", str(args.k), "--output", str(output), "--overwrite"]
        result = {"command": " ".join(["tfdirectspec", *argv_case[3:]]), **timed(argv_case)}
        result.update(check_file(output, args.run, args.k, users))
        result["users_per_second"] = round(len(users) / result["wall_seconds"], 1)
        record["cases"][name] = result
        print(json.dumps({name: result}, indent=2), flush=True)

    print("\n| users | wall s | CPU s | peak RSS MiB | rows | row groups | seen items |")
    print("|---|---|---|---|---|---|---|")
    for name, r in record["cases"].items():
        print(
            f"| {r['users_requested']:,} ({name}) | {r['wall_seconds']} | {r['cpu_seconds']} | "
            f"{r['peak_rss_mib']:,} | {r['rows']:,} | {r['row_groups']} | "
            f"{r['seen_items_recommended']} |"
        )
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
