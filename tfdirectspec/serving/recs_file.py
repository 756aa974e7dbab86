"""A recommendations file (Parquet or CSV) written block by block, renamed when complete.

Rows (:data:`~tfdirectspec.serving.recommender.COLUMNS`): ``user_id`` (int64 or string,
the raw id), ``rank`` (int32, 1 = best), ``item_id`` (raw), ``score`` (float32). Each
:meth:`RecommendationFile.write` appends one block: a Parquet row group
(``pyarrow.parquet.ParquetWriter``) or CSV lines (``pyarrow.csv.CSVWriter``, one header).
Everything goes to a hidden ``.NAME.partial`` beside the target, renamed onto it only
when the ``with`` block ends without an error; on an error it is deleted, so the
target never holds a half-written file.

Example:
    >>> import tempfile, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "recs.csv"
    >>> rows = {"user_id": np.array([7, 7]), "rank": np.array([1, 2], np.int32),
    ...         "item_id": np.array([3, 1]), "score": np.array([0.5, 0.25], np.float32)}
    >>> with RecommendationFile(path) as out:
    ...     out.write(rows)
    >>> print(path.read_text().strip())
    "user_id","rank","item_id","score"
    7,1,3,0.5
    7,2,1,0.25
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from tfdirectspec.parameters import ParameterError

#: Formats by file suffix.
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def output_format(path: str | os.PathLike, overwrite: bool = False) -> str:
    """``"parquet"`` or ``"csv"`` from the suffix of ``path``; checks that it may be written.

    Raises:
        ParameterError: (naming ``output``) an unknown suffix, an existing file without
            ``overwrite``, a directory, or a missing parent folder.
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ParameterError("output", f"{path}: name a .parquet or .csv file")
    if path.is_dir():
        raise ParameterError("output", f"{path} is a directory")
    if path.exists() and not overwrite:
        raise ParameterError(
            "output", f"{path} exists (use overwrite to replace it)", related=("overwrite",)
        )
    if not path.parent.is_dir():
        raise ParameterError("output", f"{path.parent}: no such directory")
    return kind


class RecommendationFile:
    """Context manager writing recommendation rows to ``path`` atomically.

    Args:
        path: a ``.parquet`` or ``.csv`` file.
        overwrite: replace an existing file.
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.format = output_format(self.path, overwrite)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.rows_written = 0
        self.blocks_written = 0
        self._writer: Any = None

    def __enter__(self) -> RecommendationFile:
        return self

    def write(self, rows: dict[str, np.ndarray]) -> None:
        """Appends one block of rows (one Parquet row group / CSV batch)."""
        import pyarrow as pa

        table = pa.table({name: _arrow(values) for name, values in rows.items()})
        if self._writer is None:
            self._writer = self._open(table.schema)
        self._writer.write_table(table)
        self.rows_written += table.num_rows
        self.blocks_written += 1

    def _open(self, schema: Any) -> Any:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(self.partial, schema)
        import pyarrow.csv as pcsv

        return pcsv.CSVWriter(self.partial, schema)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
            if kind is None:
                if writer is None:  # no block: an empty file with no rows
                    self.write_empty()
                os.replace(self.partial, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.partial.unlink()

    def write_empty(self) -> None:
        """Writes the file of zero rows (only the columns)."""
        import pyarrow as pa

        schema = pa.schema(
            [("user_id", pa.int64()), ("rank", pa.int32()), ("item_id", pa.int64()),
             ("score", pa.float32())]
        )  # fmt: skip
        writer = self._open(schema)
        writer.close()


def _arrow(values: np.ndarray) -> Any:
    """A numpy column as Arrow: numbers as they are, string ids as Arrow strings."""
    import pyarrow as pa

    values = np.asarray(values)
    if values.dtype.kind in "USO":
        return pa.array(values.astype(str).tolist(), type=pa.string())
    return pa.array(values)
