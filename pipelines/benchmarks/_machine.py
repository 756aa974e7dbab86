"""The machine a benchmark ran on, for the records the benchmarks here write.

A helper of ``pipelines/benchmarks/`` (and ``pipelines/release/time_to_quality.py``), imported
from the script's folder as ``from _machine import cpu_model``; not part of the library.
"""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo``, or the platform's processor string.

    Example:
        >>> isinstance(cpu_model(), str)
        True
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
