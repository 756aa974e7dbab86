"""The ``tfdirectspec`` command with a kill point installed (see ``fault_injection.py``).

Usage::

    python tests/fault_driver.py [--worker I] [--once FILE] <point> -- <tfdirectspec args>

installs the kill point ``<point>`` (``mid@2``, ``truncated@2``, ``end``, ...) and runs
``tfdirectspec.cli.main(<tfdirectspec args>)``; its exit status is the command's (or
-SIGKILL, once the point is reached).

* ``--worker I``: only in the process whose ``TF_CONFIG`` task index is ``I`` (the
  others run the command unchanged).
* ``--once FILE``: only if ``FILE`` does not exist yet; the process that installs the
  point creates it, so a restarted cluster runs clean.
* ``-- cluster ...``: the launcher itself trains nothing; each worker runs this driver
  with the same options, in place of ``python -m tfdirectspec``.

It imports the ``tfdirectspec`` of the checkout it lives in, whatever is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))  # this checkout's tfdirectspec first


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The driver's options and the tfdirectspec argv (everything after the first ``--``)."""
    if "--" not in argv:
        raise SystemExit("fault_driver: expected <point> -- <tfdirectspec args>")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="fault_driver", allow_abbrev=False)
    parser.add_argument("--worker", type=int, help="only in worker I (TF_CONFIG task index)")
    parser.add_argument("--once", type=Path, help="only while FILE does not exist; creates it")
    parser.add_argument("point", help="<name>@<epoch> or end")
    return parser.parse_args(argv[:split]), argv[split + 1 :]


def applies(options: argparse.Namespace) -> bool:
    """Whether this process kills itself at the point (``--worker`` and ``--once``)."""
    if options.worker is not None:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        if config.get("task", {}).get("index") != options.worker:
            return False
    if options.once is not None:
        try:
            options.once.touch(exist_ok=False)
        except FileExistsError:
            return False
    return True


def main(argv: list[str]) -> int:
    from fault_injection import install, parse_point

    options, command = parse(argv)
    try:
        parse_point(options.point)
    except ValueError as error:
        raise SystemExit(f"fault_driver: {error}") from None
    if command[:1] == ["cluster"]:
        from tfdirectspec.commands import cluster

        forwarded = argv[: argv.index("--") + 1]
        cluster.worker_program = lambda: [sys.executable, str(HERE), *forwarded]
    elif applies(options):
        install(options.point)

    from tfdirectspec.cli import main as tfdirectspec

    return tfdirectspec(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
