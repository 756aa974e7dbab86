"""Writing a :class:`~tfdirectspec.data.synthetic.SyntheticData` as a data folder.

``write_synthetic(data, DIR, fmt)`` writes::

    DIR/train.tsv, DIR/test.tsv          user<TAB>item, no header   (fmt="tsv")
    DIR/train.parquet, DIR/test.parquet  columns user, item         (fmt="parquet")
    DIR/truth.npz                        user_ids, item_ids, user_mix, item_weights
    DIR/synthetic.json                   parameters, counts and the given extra fields

The TSV files are what :func:`~tfdirectspec.data.readers.read_interactions` reads. Rows
are converted to raw ids ``WRITE_ROWS`` at a time with pyarrow (``take`` on the id
arrays), so 100M string pairs never become Python strings. Everything is written into a
hidden ``.DIR.partial`` folder beside ``DIR`` and renamed into place when complete: a
failure leaves no ``DIR`` (and an existing ``DIR`` untouched unless the rename happened).

Example:
    >>> import json, tempfile, pathlib
    >>> from tfdirectspec.data.synthetic import synthesize
    >>> data = synthesize(1000, seed=0, rank=4, users=50, items=200)
    >>> out = write_synthetic(data, pathlib.Path(tempfile.mkdtemp()) / "synth")
    >>> sorted(p.name for p in out.iterdir())
    ['synthetic.json', 'test.tsv', 'train.tsv', 'truth.npz']
    >>> json.loads((out / "synthetic.json").read_text())["counts"]["users"]
    50
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tfdirectspec.data.synthetic import SyntheticData
from tfdirectspec.json_output import to_json
from tfdirectspec.parameters import ParameterError

#: Accepted output formats.
FORMATS = ("tsv", "parquet")
#: Rows converted and written per batch (bounds the temporary memory).
WRITE_ROWS = 2_000_000
SUMMARY_FILE = "synthetic.json"
TRUTH_FILE = "truth.npz"


def summary(data: SyntheticData) -> dict[str, Any]:
    """The parameters and counts recorded in ``synthetic.json``."""
    users_in_test = int(np.count_nonzero(np.bincount(data.test[:, 0], minlength=data.num_users)))
    return {
        "params": dict(data.params),
        "counts": {
            "users": data.num_users,
            "items": data.num_items,
            "pairs": len(data.train) + len(data.test),
            "train_pairs": len(data.train),
            "test_pairs": len(data.test),
            "users_with_test_pairs": users_in_test,
        },
    }


def write_synthetic(
    data: SyntheticData,
    output: str | os.PathLike,
    fmt: str = "tsv",
    overwrite: bool = False,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Writes ``data`` to the folder ``output`` (see the module) and returns its path.

    Args:
        data: what :func:`~tfdirectspec.data.synthetic.synthesize` returned.
        output: the folder to create.
        fmt: ``"tsv"`` or ``"parquet"``.
        overwrite: replace an existing ``output``.
        extra: more fields for ``synthetic.json`` (e.g. the planted-quality check).

    Raises:
        ParameterError: (an ``InputError``) an unknown format, or an existing ``output``
            without ``overwrite``.
    """
    import pyarrow as pa

    if fmt not in FORMATS:
        raise ParameterError("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    output = Path(output)
    if output.exists() and not overwrite:
        raise ParameterError(
            "output", f"{output} exists (use overwrite to replace it)", related=("overwrite",)
        )
    staging = output.parent / f".{output.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        user_ids, item_ids = pa.array(data.user_ids), pa.array(data.item_ids)
        for name, pairs in (("train", data.train), ("test", data.test)):
            _write_pairs(staging / f"{name}.{fmt}", pairs, user_ids, item_ids, fmt)
        np.savez(
            staging / TRUTH_FILE,
            user_ids=data.user_ids,
            item_ids=data.item_ids,
            user_mix=data.user_mix,
            item_weights=data.item_weights,
        )
        record = {**summary(data), "format": fmt, **(extra or {})}
        (staging / SUMMARY_FILE).write_text(to_json(record, indent=2) + "\n")
        if output.exists():
            shutil.rmtree(output)
        os.replace(staging, output)
    except BaseException:
        # Also on KeyboardInterrupt: nothing half-written may stay behind.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def _write_pairs(path: Path, pairs: np.ndarray, user_ids, item_ids, fmt: str) -> None:
    """Writes index ``pairs`` as raw ids, ``WRITE_ROWS`` rows at a time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = pa.schema([("user", user_ids.type), ("item", item_ids.type)])
    if fmt == "tsv":
        import pyarrow.csv as csv

        options = csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
        writer = csv.CSVWriter(path, schema, write_options=options)
    else:
        import pyarrow.parquet as pq

        writer = pq.ParquetWriter(path, schema)
    with writer:
        for start in range(0, max(len(pairs), 1), WRITE_ROWS):
            block = pairs[start : start + WRITE_ROWS]
            users = pc.take(user_ids, pa.array(block[:, 0]))
            items = pc.take(item_ids, pa.array(block[:, 1]))
            writer.write_table(pa.Table.from_arrays([users, items], schema=schema))
