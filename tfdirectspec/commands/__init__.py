"""Sub-commands of the ``tfdirectspec`` command line.

Each module has ``add_parser(subparsers)`` and ``run(args) -> exit status``;
:mod:`tfdirectspec.cli` lists them in ``COMMANDS``. Heavy imports
(TensorFlow) happen inside ``run`` so ``--help`` stays fast (it imports no
TensorFlow: ``tests/test_first_minute.py`` checks it).
"""

from __future__ import annotations

import argparse


def add_output_flags(parser: argparse.ArgumentParser, output: str, resume: str) -> None:
    """``--output``, ``--overwrite`` and ``--resume DIR``, which every writing command takes."""
    parser.add_argument("--output", help=output)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--resume", metavar="DIR", help=resume)
