"""Sub-commands of the ``tfdirectspec`` command line.

Each module has ``add_parser(subparsers)`` and ``run(args) -> exit status``;
:mod:`tfdirectspec.cli` lists them in ``COMMANDS``. Heavy imports
(TensorFlow) happen inside ``run`` so ``--help`` stays fast (it imports no
TensorFlow: ``tests/test_cli_first_minute.py`` checks it).

Flags several commands share are defined once here: :func:`add_output_flags` and
:func:`add_data_flags` (``train``, ``tune`` and ``evaluate`` read data alike).
"""

from __future__ import annotations

import argparse
from typing import Any

from tfdirectspec.training.config import DATA_KEYS

#: Config keys of the flags :func:`add_data_flags` adds (``--data-dir`` -> ``data_dir``):
#: the data keys but the seed, which each command declares with its own help.
DATA_FLAGS = tuple(key for key in DATA_KEYS if key != "seed")


class StrictParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that takes no abbreviations: ``--epoch 1`` is not ``--epochs 1``.

    Sub-parsers made from it (``add_subparsers``) are ``StrictParser``\\ s too. A usage
    error is one line on stderr and exit status 2.

    Example:
        >>> parser = StrictParser(prog="p")
        >>> _ = parser.add_argument("--epochs", type=int)
        >>> parser.parse_args(["--epochs", "2"]).epochs
        2
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        """A usage error as one stderr line (like every other error) and exit status 2."""
        self.exit(2, f"tfdirectspec: error: {message} (see: {self.prog} --help)\n")


def add_output_flags(parser: argparse.ArgumentParser, output: str, resume: str) -> None:
    """``--output``, ``--overwrite`` and ``--resume DIR``, which every writing command takes."""
    parser.add_argument("--output", help=output)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--resume", metavar="DIR", help=resume)


def add_data_flags(
    parser: argparse.ArgumentParser, valid_help: str, valid_default: float | None = None
) -> None:
    """The flags that say which data a command reads, how, and how it is split.

    ``--dataset``/``--data-dir``, ``--columns``, ``--id-type``, ``--header``/``--no-header``,
    ``--split``, ``--cutoff``, ``--test-fraction``, ``--valid-fraction`` and ``--no-test``;
    each is a :class:`~tfdirectspec.training.TrainConfig` key (:data:`DATA_FLAGS`), so a
    run's ``config.json`` reads its data again the same way. Not given = ``None``.
    """
    _add_source_flags(parser)
    _add_split_flags(parser, valid_help, valid_default)


def _add_source_flags(parser: argparse.ArgumentParser) -> None:
    """Which data, and how its files are read: columns, id type, header."""
    from tfdirectspec.training.config import ID_TYPES

    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", help="a dataset by name (default: citeulike, embedded)")
    source.add_argument(
        "--data-dir", help="a folder with train.(csv|tsv|txt|parquet) and optionally test.*"
    )
    parser.add_argument(
        "--columns",
        metavar="USER,ITEM[,TIME]",
        help="the user, item and optional time columns, by header name or 0-based index "
        "(default: the first two)",
    )
    parser.add_argument(
        "--id-type",
        choices=ID_TYPES,
        help="auto (default): integers if every id is a non-negative integer, else strings",
    )
    header = parser.add_mutually_exclusive_group()
    header.add_argument(
        "--header",
        dest="header",
        action="store_const",
        const=True,
        default=None,
        help="CSV/TSV files start with a header (default: detected)",
    )
    header.add_argument(
        "--no-header",
        dest="header",
        action="store_const",
        const=False,
        default=None,
        help="the first line of CSV/TSV files is data",
    )


def _add_split_flags(
    parser: argparse.ArgumentParser, valid_help: str, valid_default: float | None
) -> None:
    """How the data is split into train, test and validation."""
    from tfdirectspec.training.config import SPLITS

    parser.add_argument(
        "--split",
        choices=SPLITS,
        help="how test and validation are carved per user: random items (default) or "
        "the latest ones by time (needs a time column)",
    )
    parser.add_argument(
        "--cutoff",
        metavar="DATE",
        help="with --split time: every pair at or after DATE (ISO 8601 or epoch seconds) is test",
    )
    parser.add_argument(
        "--test-fraction", type=float, help="carve a test split per user from data without one"
    )
    parser.add_argument("--valid-fraction", type=float, default=valid_default, help=valid_help)
    parser.add_argument(
        "--no-test",
        action="store_const",
        const=True,
        default=None,
        help="train without a test split (otherwise data without one is an error)",
    )


def data_flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The data flags given on the command line, as config keys (``--data-dir`` unsets the
    default dataset).

    Example:
        >>> data_flag_values(argparse.Namespace(data_dir="d", split="time", columns=None))
        {'data_dir': 'd', 'split': 'time', 'dataset': None}
    """
    values = {k: getattr(args, k) for k in DATA_FLAGS if getattr(args, k, None) is not None}
    if values.get("data_dir") is not None:
        values["dataset"] = None
    return values
