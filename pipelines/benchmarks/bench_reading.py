"""Time and peak memory of :func:`load_data_dir` on large synthetic interaction files.

Each case writes a ``train.<ext>`` into its own folder of a temporary directory (integer
ids drawn like real logs, ``0 <= id < 1e15``, or string ids ``"u" + hex``; about
``pairs / 40`` users and ``pairs / 80`` items, uniformly paired), then loads it
``--repeats`` times, each in a fresh process, and reports medians of:

* ``seconds``: wall time of ``load_data_dir`` (reading, id maps and CSR matrices), and
  ``cpu_seconds``, its CPU time (all threads; steadier than wall time on a busy machine);
* ``peak_extra_mib``: peak resident memory during the load minus the resident memory
  after the imports (``VmHWM - VmRSS`` with the mark reset after the imports, else
  ``ru_maxrss`` differences; ``memory_method`` says which);
* ``bytes_per_pair`` = ``peak_extra`` / pairs, and ``peak_per_file_byte`` = peak_extra /
  file size.

Arguments: ``--cases`` (names from :data:`CASES`, default :data:`DEFAULT_CASES`),
``--repeats`` (default 3), ``--out`` (also write the JSON there). Prints one JSON object::

    PYTHONPATH=. python pipelines/benchmarks/bench_reading.py --repeats 3

Example:
    >>> sorted(DEFAULT_CASES)[:2]
    ['int-parquet-10m', 'int-tsv-10m']
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from _machine import cpu_model

MIB = 1 << 20
#: name -> (id kind, file extension, pairs).
CASES = {
    "int-tsv-1m": ("int", "tsv", 1_000_000),
    "int-tsv-10m": ("int", "tsv", 10_000_000),
    "int-parquet-10m": ("int", "parquet", 10_000_000),
    "str-tsv-1m": ("str", "tsv", 1_000_000),
    "str-tsv-10m": ("str", "tsv", 10_000_000),
    "str-parquet-10m": ("str", "parquet", 10_000_000),
}
#: Cases run without ``--cases``.
DEFAULT_CASES = ("int-tsv-1m", "int-tsv-10m", "int-parquet-10m", "str-tsv-1m")

# Runs in the child: imports first, then the peak-RSS mark is reset to the current RSS
# (Linux: "5" > /proc/self/clear_refs), so import-time transients neither hide nor
# inflate the load's peak; ru_maxrss (peak since start) is the fallback.
_CHILD = """
import json, resource, sys, time
import numpy, scipy.sparse, pyarrow, pyarrow.csv, pyarrow.parquet
from tfdirectspec.data import load_data_dir

def status_kib(key):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(key))

try:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    method, before = "VmHWM-VmRSS", status_kib("VmRSS:")
except OSError:
    method, before = "ru_maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start, cpu = time.perf_counter(), time.process_time()
try:
    data = load_data_dir(sys.argv[1], id_type=sys.argv[2])
    summary, error = data.summary(), None
except Exception as exc:
    summary, error = None, f"{type(exc).__name__}: {exc}"
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
if method == "ru_maxrss":
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
else:
    peak = status_kib("VmHWM:")
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "extra_kib": peak - before,
                  "method": method, "summary": summary, "error": error}))
"""


def write_case(folder: Path, kind: str, ext: str, pairs: int, seed: int = 0) -> Path:
    """Writes ``folder/train.<ext>`` with ``pairs`` random pairs; returns its path."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    users = rng.integers(0, 10**15, size=max(pairs // 40, 1))
    items = rng.integers(0, 10**15, size=max(pairs // 80, 1))
    user_col = users[rng.integers(0, users.size, size=pairs)]
    item_col = items[rng.integers(0, items.size, size=pairs)]
    if kind == "str":
        # Hex of the uniques only (Python formatting of n ids would dominate the setup).
        user_col = pa.array([f"u{x:x}" for x in users.tolist()]).take(
            pa.array(np.searchsorted(np.sort(users), user_col))
        )
        item_col = pa.array([f"i{x:x}" for x in items.tolist()]).take(
            pa.array(np.searchsorted(np.sort(items), item_col))
        )
    table = pa.table({"user": user_col, "item": item_col})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"train.{ext}"
    if ext == "parquet":
        pq.write_table(table, path)
    else:
        options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
        pacsv.write_csv(table, path, options)
    return path


def measure(folder: Path, kind: str) -> dict[str, Any]:
    """One load of ``folder`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), kind],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(root: Path, name: str, repeats: int) -> dict[str, Any]:
    kind, ext, pairs = CASES[name]
    path = write_case(root / name, kind, ext, pairs)
    runs = [measure(path.parent, kind) for _ in range(repeats)]
    record: dict[str, Any] = {"pairs": pairs, "file_mib": round(path.stat().st_size / MIB, 1)}
    if runs[0]["error"]:
        return {**record, "error": runs[0]["error"]}
    extra = statistics.median(r["extra_kib"] for r in runs) * 1024
    return {
        **record,
        "seconds": round(statistics.median(r["seconds"] for r in runs), 3),
        "cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 3),
        "peak_extra_mib": round(extra / MIB, 1),
        "bytes_per_pair": round(extra / pairs, 1),
        "peak_per_file_byte": round(extra / path.stat().st_size, 2),
        "memory_method": runs[0]["method"],
        "summary": runs[0]["summary"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_reading_") as tmp:
        results = {name: run_case(Path(tmp), name, args.repeats) for name in args.cases}
    record = {
        "command": "python pipelines/benchmarks/bench_reading.py "
        + shlex.join(argv or sys.argv[1:]),
        "machine": {
            "platform": platform.platform(),
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            # A shared machine: the load says how much of the CPUs the runs had.
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "repeats": args.repeats,
        "cases": results,
    }
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return record


if __name__ == "__main__":
    main()
