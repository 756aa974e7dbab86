"""Errors that the command line turns into a one-line message and exit status 2."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a malformed file, an unknown name or an out-of-range flag.

    The message is a single line that names the file and line, or the flag, so the
    command line can print it as is (``tfdirectspec: error: <message>``) and exit 2.
    """
