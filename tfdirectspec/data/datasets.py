"""Datasets by name (embedded or downloaded) and datasets from a folder of files.

``citeulike`` ships inside the package (``_embedded/citeulike.npz``), so it needs neither
network nor local files. ``gowalla`` is read from ``$TFDIRECTSPEC_DATA/gowalla`` when that
folder exists, else downloaded once (checksum-verified) into the cache folder, see
:func:`tfdirectspec.data.download.default_cache_dir`.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
from pathlib import Path
from types import MappingProxyType

import numpy as np

from tfdirectspec.data.download import default_cache_dir, download
from tfdirectspec.data.interactions import InteractionData, from_columns, from_pairs
from tfdirectspec.data.readers import read_columns, read_log
from tfdirectspec.errors import InputError

#: Environment variable naming a folder with local copies, e.g. ``$TFDIRECTSPEC_DATA/gowalla``.
DATA_ENV = "TFDIRECTSPEC_DATA"
#: Extensions tried, in order, for ``train``/``test``/``valid`` files of a data folder.
SPLIT_EXTENSIONS = (".tsv", ".csv", ".txt", ".parquet")

_LIGHTGCN_RAW = "https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/master/data"


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One downloadable file of a dataset.

    Attributes:
        role: ``"train"``, ``"test"`` or ``"valid"``.
        url: where to fetch it.
        checksum: ``"md5:<hex>"`` or ``"sha256:<hex>"``.
    """

    role: str
    url: str
    checksum: str

    @property
    def filename(self) -> str:
        """The cached file name: the last part of the URL."""
        return self.url.rsplit("/", 1)[-1]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How to obtain a named dataset.

    Attributes:
        name: the registry key.
        description: one line for listings.
        embedded: file name under ``_embedded/`` for datasets shipped in the package.
        files: the remote files of downloadable datasets.
        fmt: format of the remote files (see :func:`~tfdirectspec.data.readers.read_columns`).
        sources: ``(file name, sha256)`` of the original files the data was built from.
    """

    name: str
    description: str
    embedded: str = ""
    files: tuple[RemoteFile, ...] = ()
    fmt: str = "auto"
    sources: tuple[tuple[str, str], ...] = ()


#: The registry of named datasets (read-only).
DATASETS = MappingProxyType(
    {
        "citeulike": DatasetSpec(
            name="citeulike",
            description="CiteULike-a, the DirectSpec split (5,551 users x 16,980 items), embedded",
            embedded="citeulike.npz",
            sources=(
                ("train.tsv", "be3e4fc1949189f26861b06133ad8c36dccce3f98705e8e13009aa77dfacd1f7"),
                ("test.tsv", "12c0bd620203c94329b4712cf88269f024dbb120267fb82616f61f541bdf3940"),
            ),
        ),
        "gowalla": DatasetSpec(
            name="gowalla",
            description="Gowalla, the LightGCN split used by DirectSpec (29,858 users x "
            "40,981 items), downloaded",
            files=(
                RemoteFile(
                    "train",
                    f"{_LIGHTGCN_RAW}/gowalla/train.txt",
                    "md5:5eec1eb2edb8dd648377d348b8e136cf",
                ),
                RemoteFile(
                    "test",
                    f"{_LIGHTGCN_RAW}/gowalla/test.txt",
                    "md5:c04e2c4bcd2389f53ed8281816166149",
                ),
            ),
            fmt="lightgcn",
        ),
    }
)


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`.

    Returns:
        The sorted names.

    Example:
        >>> list_datasets()
        ['citeulike', 'gowalla']
    """
    return sorted(DATASETS)


def load_dataset(name: str, cache_dir: str | os.PathLike | None = None) -> InteractionData:
    """Loads a dataset by name.

    Embedded datasets load from the package. Others load from
    ``$TFDIRECTSPEC_DATA/<name>/`` when that folder exists (see :func:`load_data_dir`),
    else from the cache, downloading and verifying the files on first use.

    Args:
        name: one of :func:`list_datasets` (case-insensitive).
        cache_dir: download cache; default ``$TFDIRECTSPEC_CACHE`` or
            ``~/.cache/tfdirectspec``.

    Returns:
        The ``InteractionData`` (no validation split; see
        :meth:`InteractionData.with_validation`).

    Raises:
        InputError: an unknown name, or files that cannot be obtained or read.

    Example:
        >>> data = load_dataset("citeulike")
        >>> data.num_users, data.num_items, data.num_train, data.num_test
        (5551, 16980, 166003, 44512)
    """
    spec = DATASETS.get(str(name).strip().lower())
    if spec is None:
        raise InputError(f"unknown dataset {name!r} (known: {', '.join(list_datasets())})")
    if spec.embedded:
        return _load_embedded(spec)
    local = _local_copy(spec.name)
    if local is not None:
        return dataclasses.replace(load_data_dir(local), name=spec.name)
    return _load_remote(spec, cache_dir)


def load_data_dir(
    path: str | os.PathLike,
    id_type: str = "auto",
    columns: str | None = None,
    header: bool | None = None,
) -> InteractionData:
    """Loads a folder holding ``train.(tsv|csv|txt|parquet)`` and optionally ``test.*``/``valid.*``.

    A missing test (or valid) file gives an empty matrix; a caller may then split the
    train pairs (:meth:`InteractionData.with_test_split`). Duplicate pairs collapse; with
    a time column each pair keeps its earliest time (its first interaction).

    Args:
        path: the folder.
        id_type: ``"auto"``, ``"int"`` or ``"str"``, see
            :func:`~tfdirectspec.data.readers.read_log`.
        columns: ``"USER,ITEM[,TIME]"`` (header names or 0-based indices) for every file.
        header: ``True``/``False`` forces the CSV/TSV header; ``None`` detects it.

    Returns:
        The ``InteractionData``, named after the folder.

    Raises:
        InputError: the folder or its train file is missing, a split has two candidate
            files, or a file is malformed.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "train.tsv").write_text("10\\t1\\n10\\t2\\n11\\t2\\n")
        >>> _ = (folder / "test.tsv").write_text("11\\t1\\n")
        >>> load_data_dir(folder).summary()
        {'users': 2, 'items': 2, 'train': 3, 'valid': 0, 'test': 1}
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"{path}: no such data folder")
    found = {role: _split_file(folder, role) for role in ("train", "test", "valid")}
    if found["train"] is None:
        names = ", ".join(f"train{ext}" for ext in SPLIT_EXTENSIONS)
        raise InputError(f"{path}: no train file (looked for {names})")
    logs = {
        role: read_log(file, id_type=id_type, columns=columns, header=header)
        if file is not None
        else None
        for role, file in found.items()
    }
    pairs = {role: None if log is None else (log.users, log.items) for role, log in logs.items()}
    times = {role: None if log is None else log.times for role, log in logs.items()}
    return from_columns(
        pairs["train"],
        pairs["test"],
        pairs["valid"],
        name=folder.resolve().name,
        train_time=times["train"],
        test_time=times["test"],
        valid_time=times["valid"],
    )


def _load_embedded(spec: DatasetSpec) -> InteractionData:
    package = importlib.resources.files(__package__)
    resource = package.joinpath("_embedded").joinpath(spec.embedded)
    with resource.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
        train = np.stack([archive["train_users"], archive["train_items"]], axis=1)
        test = np.stack([archive["test_users"], archive["test_items"]], axis=1)
    return from_pairs(train, test, name=spec.name)


def _local_copy(name: str) -> Path | None:
    """``$TFDIRECTSPEC_DATA/<name>`` if it holds a train file, else ``None``."""
    root = os.environ.get(DATA_ENV)
    if not root:
        return None
    folder = Path(root).expanduser() / name
    return folder if _split_file(folder, "train") is not None else None


def _load_remote(spec: DatasetSpec, cache_dir: str | os.PathLike | None) -> InteractionData:
    """Downloads (or reuses from the cache) the files of ``spec`` and reads them."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / spec.name
    columns = {}
    for remote in spec.files:
        try:
            file = download(remote.url, remote.checksum, folder / remote.filename)
        except InputError as error:
            raise InputError(
                f"{error} (or set {DATA_ENV} to a folder holding "
                f"{spec.name}/train.tsv and {spec.name}/test.tsv)"
            ) from None
        columns[remote.role] = read_columns(file, fmt=spec.fmt)
    return from_columns(columns["train"], columns.get("test"), columns.get("valid"), name=spec.name)


def _split_file(folder: Path, role: str) -> Path | None:
    """The single ``<role>.(tsv|csv|txt|parquet)`` file in ``folder``, or ``None``."""
    candidates = [folder / f"{role}{ext}" for ext in SPLIT_EXTENSIONS]
    present = [file for file in candidates if file.is_file()]
    if len(present) > 1:
        names = ", ".join(file.name for file in present)
        raise InputError(f"{folder}: more than one {role} file ({names})")
    return present[0] if present else None
