"""Resident memory of a command over time, to attribute its peak to a stage.

Runs the command, samples the resident set size (``VmRSS``) of it and its children
every ``--every`` seconds, and writes ``seconds<TAB>rss_mib<TAB>last output line`` rows
to ``--out`` (the command's output lines are passed through and time-stamped, so a
row shows which stage was running). At the end it prints the peak, when it happened
and the output line before it.

Run from the repository root, e.g.::

    python pipelines/benchmarks/trace_rss.py --out /tmp/rss.tsv -- \\
        tfdirectspec train --data-dir D --loss directspec+ --epochs 1 --verbose 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def tree_rss_mib(pid: int) -> float:
    """Resident MiB of ``pid`` and its descendants (0 once they are gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        todo += [int(c) for c in children]
    return total / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="TSV of the samples")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")

    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    last_line = ["(start)"]

    def relay() -> None:
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.strip():
                last_line[0] = f"{time.perf_counter() - started:.1f}s {line.strip()[:200]}"

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    peak = (0.0, 0.0, "")
    with args.out.open("w") as out:
        out.write("seconds\trss_mib\tlast_output\n")
        while process.poll() is None:
            rss = tree_rss_mib(process.pid)
            now = time.perf_counter() - started
            out.write(f"{now:.1f}\t{rss:.0f}\t{last_line[0]}\n")
            out.flush()
            if rss > peak[1]:
                peak = (now, rss, last_line[0])
            time.sleep(args.every)
    reader.join(timeout=5)
    print(
        f"peak {peak[1]:,.0f} MiB at {peak[0]:.0f} s of {time.perf_counter() - started:.0f} s; "
        f"last output before it: {peak[2]}",
        file=sys.stderr,
    )
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
