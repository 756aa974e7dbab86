"""The ``tfdirectspec`` command: a thin layer over the library.

``tfdirectspec train`` (no flags) trains DirectSpec+ MF on the embedded
CiteULike with the zoo's hyper-parameters and prints its test metrics.
Errors in the user's input print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tfdirectspec.errors import InputError
from tfdirectspec.parameters import ParameterError

EXIT_USAGE = 2

#: Library parameters whose flag is not ``--`` + the name with dashes.
FLAGS = {"num_layers": "--layers", "embedding_dim": "--dim", "target": "--to"}


def flag(parameter: str) -> str:
    """The command-line flag of a library parameter: ``group_size`` -> ``--group-size``."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


#: Sub-command name -> module with ``add_parser(sub)`` and ``run(args)``.
COMMANDS = {
    "train": "tfdirectspec.commands.train",
    "evaluate": "tfdirectspec.commands.evaluate",
    "export": "tfdirectspec.commands.export",
    "recommend": "tfdirectspec.commands.recommend",
    "spectrum": "tfdirectspec.commands.spectrum",
    "tune": "tfdirectspec.commands.tune",
    "cluster": "tfdirectspec.commands.cluster",
    "synthesize": "tfdirectspec.commands.synthesize",
}


def build_parser() -> argparse.ArgumentParser:
    from tfdirectspec.commands import StrictParser

    # No abbreviations anywhere: sub-parsers are StrictParsers too (``--epoch`` fails).
    parser = StrictParser(
        prog="tfdirectspec",
        description="Train, evaluate and serve DirectSpec/DirectSpec+ recommenders (Keras 3).",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=StrictParser)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return importlib.import_module(COMMANDS[args.command]).run(args)
    except ParameterError as e:
        print(f"tfdirectspec: error: {e.render(flag)}", file=sys.stderr)
        return EXIT_USAGE
    except InputError as e:
        print(f"tfdirectspec: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tfdirectspec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
