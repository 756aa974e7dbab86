"""Regenerates ``tfdirectspec/data/_embedded/citeulike.npz`` from the CiteULike TSV files.

The source folder must hold ``train.tsv`` and ``test.tsv`` (``user<TAB>item``, the
DirectSpec split); their sha256s are checked against the registry before anything is
written. Rows are stored as given, duplicates included.

Usage, from the repository root (or anywhere once the package is installed)::

    PYTHONPATH=. python pipelines/release/build_embedded_citeulike.py --source DIR

where ``DIR`` holds CiteULike's ``train.tsv`` and ``test.tsv`` as the DirectSpec authors ship
them (e.g. ``"$TFDIRECTSPEC_DATA/citeulike"``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from tfdirectspec.data.datasets import DATASETS
from tfdirectspec.data.download import file_checksum
from tfdirectspec.data.readers import read_interactions
from tfdirectspec.errors import InputError

DEFAULT_OUTPUT = (
    Path(__file__).resolve().parents[2] / "tfdirectspec" / "data" / "_embedded" / "citeulike.npz"
)


def write_embedded(
    path: str | os.PathLike, train_pairs: np.ndarray, test_pairs: np.ndarray
) -> Path:
    """Writes train/test pairs in the layout ``load_dataset`` reads for embedded data.

    Rows are kept as given (duplicates included) as ``int32`` columns, compressed.

    Args:
        path: the ``.npz`` file to write.
        train_pairs: ``[n, 2]`` integer ``(user, item)`` ids.
        test_pairs: ``[m, 2]`` integer ids.

    Returns:
        ``path`` as a ``Path``.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "tiny.npz"
        >>> write_embedded(path, np.array([[0, 1], [1, 0]]), np.array([[0, 0]])).name
        'tiny.npz'
        >>> sorted(np.load(path))
        ['test_items', 'test_users', 'train_items', 'train_users']
    """
    columns = {}
    for role, pairs in (("train", train_pairs), ("test", test_pairs)):
        pairs = np.asarray(pairs)
        if pairs.size and (pairs.min() < 0 or pairs.max() > np.iinfo(np.int32).max):
            raise ValueError(f"{role} ids do not fit int32")
        columns[f"{role}_users"] = pairs[:, 0].astype(np.int32)
        columns[f"{role}_items"] = pairs[:, 1].astype(np.int32)
    path = Path(path)
    np.savez_compressed(path, **columns)
    return path


def build(source: Path, output: Path) -> dict[str, int]:
    """Verifies the source files and writes the embedded archive.

    Args:
        source: folder with ``train.tsv`` and ``test.tsv``.
        output: the ``.npz`` to write.

    Returns:
        Row counts ``{"train": ..., "test": ...}``.

    Raises:
        InputError: a file is missing or its sha256 differs from the registry's.

    Example:
        >>> build(Path("citeulike-tsv"), DEFAULT_OUTPUT)  # doctest: +SKIP
        {'train': 166025, 'test': 44512}
    """
    pairs = {}
    for filename, expected in DATASETS["citeulike"].sources:
        path = source / filename
        if not path.is_file():
            raise InputError(f"{source}: missing {filename}")
        actual = file_checksum(path, "sha256")
        if actual != expected:
            raise InputError(f"{path}: sha256 {actual} differs from the expected {expected}")
        pairs[path.stem] = read_interactions(path, fmt="tsv")
    output.parent.mkdir(parents=True, exist_ok=True)
    write_embedded(output, pairs["train"], pairs["test"])
    return {role: len(rows) for role, rows in pairs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        required=True,
        help="folder with the CiteULike train.tsv and test.tsv",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"archive to write (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    try:
        counts = build(args.source, args.output)
    except InputError as error:
        print(f"build_embedded_citeulike: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.output} ({counts['train']} train rows, {counts['test']} test rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
