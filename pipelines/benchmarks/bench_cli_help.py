"""Benchmark of the command line's first moment: ``tfdirectspec --help`` and a bad-input error.

Each round starts a fresh interpreter (``python -m tfdirectspec ...``) and times it to
exit, so import costs count as a user meets them. Two commands are timed:

- ``--help``: argument parsing only; nothing heavy may be imported;
- ``train --data-dir BAD``: a malformed ``train.tsv`` that must fail with one line on
  stderr before TensorFlow is imported.

As a same-process reference for this machine's speed, the time of a bare
``python -c pass`` is measured in the same rounds, and the ratio is reported too
(the machines here are shared, so the ratio moves less than the seconds).

    python pipelines/benchmarks/bench_cli_help.py --repeats 5 --out docs/benchmarks/cli_help.json
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
import time
from pathlib import Path

from _machine import cpu_model


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="also write the JSON record here")
    args = parser.parse_args()

    bad = Path(tempfile.mkdtemp())
    (bad / "train.tsv").write_text("1\t2\nfoo\tbar\n")
    (bad / "test.tsv").write_text("1\t3\n")
    commands = {
        "bare_python": [sys.executable, "-c", "pass"],
        "help": [sys.executable, "-m", "tfdirectspec", "--help"],
        "bad_input": [sys.executable, "-m", "tfdirectspec", "train", "--data-dir", str(bad)],
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    stderr_lines: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, argv in commands.items():
            elapsed, result = timed(argv)
            seconds[name].append(elapsed)
            stderr_lines[name] = len(result.stderr.splitlines())
    median = {name: statistics.median(values) for name, values in seconds.items()}
    record = {
        "benchmark": "tfdirectspec --help and a bad-input error, fresh processes",
        "median_seconds": {k: round(v, 3) for k, v in median.items()},
        "ratio_to_bare_python": {
            k: round(v / median["bare_python"], 2) for k, v in median.items() if k != "bare_python"
        },
        "all_seconds": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
        "stderr_lines": stderr_lines,
        "repeats": args.repeats,
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
