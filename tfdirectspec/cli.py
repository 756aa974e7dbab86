"""The ``tfdirectspec`` command: a thin layer over the library.

``tfdirectspec train`` (no flags) trains DirectSpec+ MF on the embedded
CiteULike with the zoo's hyper-parameters and prints its test metrics.
Errors in the user's input print one line and exit with status 2.

The command owns its process, so :func:`main` sets it up before anything imports
TensorFlow (:func:`prepare_process`); importing this module changes nothing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from tfdirectspec.backend import KerasBackendError, quiet_tensorflow_startup
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


def prepare_process() -> None:
    """Keras on TensorFlow and a quiet TensorFlow start-up, for the command's own process.

    The library leaves both to whoever owns the process; the command line does. Keras
    reads ``KERAS_BACKEND`` when it is imported, so it is set (if unset) before that;
    an explicit other backend is the user's choice and gets one error line instead.
    TensorFlow itself is still imported only when a command needs it (``--help`` and
    bad input stay fast), and its start-up notices are filtered then.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    quiet_tensorflow_startup()


def main(argv: Sequence[str] | None = None) -> int:
    prepare_process()
    args = build_parser().parse_args(argv)
    try:
        return importlib.import_module(COMMANDS[args.command]).run(args)
    except ParameterError as e:
        print(f"tfdirectspec: error: {e.render(flag)}", file=sys.stderr)
        return EXIT_USAGE
    except (InputError, KerasBackendError) as e:
        print(f"tfdirectspec: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tfdirectspec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
