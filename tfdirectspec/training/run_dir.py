"""Run directories: :class:`Run` owns the layout of what ``tfdirectspec train`` writes.

A finished run directory holds::

    config.json      the resolved TrainConfig (what `--resume` and `--config` read)
    model.keras      the trainable Keras model
    metrics.json     test/valid metrics, history, timings, the config
    id_maps.npz      raw user and item ids of the rows of the tables
    exclusions.npz   train ∪ valid pairs (CSR): what a ranking of this run skips
                     (:meth:`Run.recommend`, ``tfdirectspec recommend``) and what
                     ``--warm-start`` maps ids by (with ``id_maps.npz``)
    logs/            TensorBoard (train, validation, spectrum)

While training, everything is assembled in a hidden ``.<name>.partial`` folder beside
the target, which also holds ``checkpoints/`` and ``evaluation/`` (the resumable state);
it is renamed into place only when complete, so an interrupted or failed run leaves
nothing half-written at the target. ``train``, ``evaluate``, ``export``, ``spectrum``,
``--resume`` and the pipelines all go through this class, and only it knows file names.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> run = Run.create(root / "demo")
    >>> run.folder.name, run.finished
    ('.demo.partial', False)
    >>> run.abort()
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from tfdirectspec.data.interactions import ID_MAPS_FILE, InteractionData
from tfdirectspec.errors import InputError
from tfdirectspec.json_output import to_json
from tfdirectspec.parameters import ParameterError

if TYPE_CHECKING:
    import keras

    from tfdirectspec.serving.recommender import Recommender
    from tfdirectspec.training.config import TrainConfig

CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
EXCLUSIONS_FILE = "exclusions.npz"


class Run:
    """A run directory, finished (:meth:`open`) or being written (:meth:`create`, :meth:`resume`).

    Attributes:
        path: where the finished run lives (``--output``).
        folder: where its files are now: the staging folder until :meth:`commit`,
            then ``path``.
    """

    def __init__(self, path: str | os.PathLike, folder: str | os.PathLike) -> None:
        self.path = Path(path)
        self.folder = Path(folder)

    # -- the three ways to get one --------------------------------------------------

    @staticmethod
    def staging_folder(path: str | os.PathLike) -> Path:
        """The hidden folder where the run at ``path`` is assembled."""
        path = Path(path)
        return path.parent / f".{path.name}.partial"

    @classmethod
    def create(cls, path: str | os.PathLike, overwrite: bool = False) -> Run:
        """A new run at ``path``; an existing ``path`` is refused unless ``overwrite``.

        A staging folder left by a killed run that is not resumed is removed.
        """
        path = Path(path)
        cls.check_target(path, overwrite)
        staging = cls.staging_folder(path)
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        return cls(path, staging)

    @staticmethod
    def check_target(path: str | os.PathLike, overwrite: bool = False) -> None:
        """Raises the error :meth:`create` would, without writing anything."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise ParameterError(
                "output", f"{path} exists (use overwrite to replace it)", related=("overwrite",)
            )
        if path.exists() and not path.is_dir():
            raise ParameterError("output", f"{path} exists and is not a directory")

    @classmethod
    def worker_copy(cls, path: str | os.PathLike, scratch: str | os.PathLike, resume: bool) -> Run:
        """A private run in ``scratch`` for a non-chief worker of the run at ``path``.

        Under multi-worker training only the chief writes ``path``; the other
        workers keep their checkpoints and evaluation state in a copy they
        delete at the end. When resuming, the copy starts from the chief's
        resumable state, so every worker restores the same epoch.
        """
        copy = Path(scratch) / Path(path).name
        if not resume:
            return cls.create(copy)
        source = cls.resume(path)
        target = cls(copy, cls.staging_folder(copy))
        target.folder.mkdir(parents=True)
        shutil.copy2(source.folder / CONFIG_FILE, target.folder / CONFIG_FILE)
        for state in ("checkpoint_dir", "evaluation_dir"):
            if getattr(source, state).is_dir():
                shutil.copytree(getattr(source, state), getattr(target, state))
        return target

    @classmethod
    def resume(cls, path: str | os.PathLike) -> Run:
        """The interrupted run whose target was ``path`` (its staging folder)."""
        path = Path(path)
        if path.exists():
            raise ParameterError("resume", f"{path} is a finished run (nothing to resume)")
        staging = cls.staging_folder(path)
        if not (staging / CONFIG_FILE).is_file():
            raise ParameterError(
                "resume", f"no interrupted run of {path} (no {staging / CONFIG_FILE})"
            )
        return cls(path, staging)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        """A finished run directory."""
        path = Path(path)
        if not path.is_dir():
            raise InputError(f"{path}: no such run directory")
        if not (path / METRICS_FILE).is_file():
            raise InputError(f"{path}: not a finished run (no {METRICS_FILE})")
        return cls(path, path)

    @property
    def finished(self) -> bool:
        return self.folder == self.path

    # -- layout ------------------------------------------------------------------------

    @property
    def logdir(self) -> Path:
        """TensorBoard log folder."""
        return self.folder / "logs"

    @property
    def checkpoint_dir(self) -> Path:
        """Epoch checkpoints of an unfinished run (for ``--resume``)."""
        return self.folder / "checkpoints"

    @property
    def evaluation_dir(self) -> Path:
        """The evaluation's resumable state (records, best weights) of an unfinished run."""
        return self.folder / "evaluation"

    # -- reading -----------------------------------------------------------------------

    def config(self) -> TrainConfig:
        """The run's resolved config (``config.json``; older runs: ``metrics.json``'s)."""
        from tfdirectspec.training.config import TrainConfig

        file = self.folder / CONFIG_FILE
        if file.is_file():
            values = _read_json(file)
        else:
            file = self.folder / METRICS_FILE
            values = _read_json(file).get("config", {})
        return TrainConfig().updated(values, str(file)).validate()

    def metrics(self) -> dict[str, Any]:
        """``metrics.json`` of a finished run."""
        return _read_json(self.folder / METRICS_FILE)

    def load_model(self) -> keras.Model:
        """The trained model (``safe_mode=True``: no code is run from the file)."""
        import keras

        import tfdirectspec

        tfdirectspec.register_keras_objects()
        file = self.folder / MODEL_FILE
        if not file.is_file():
            raise InputError(f"{self.folder}: not a finished run (no {MODEL_FILE})")
        return keras.saving.load_model(file, safe_mode=True)

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(user_table, item_table)`` of the trained model, as NumPy arrays."""
        users, items = self.load_model().tables()
        return np.asarray(users), np.asarray(items)

    def id_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """``(user_ids, item_ids)``: the raw id of every table row."""
        return InteractionData.load_id_maps(self.folder)

    def recommender(self) -> Recommender:
        """The run's :class:`~tfdirectspec.serving.recommender.Recommender` (loaded once)."""
        if getattr(self, "_recommender", None) is None:
            from tfdirectspec.serving.recommender import Recommender

            self._recommender = Recommender.open(self.folder)
        return self._recommender

    def recommend(self, user_ids: Sequence[Any], k: int = 10) -> dict[str, np.ndarray]:
        """The top ``k`` unseen items of each raw user id, as NumPy columns.

        Seen items are the run's train and validation items (``exclusions.npz``);
        users are scored in bounded blocks.

        Args:
            user_ids: raw user ids of the run (strings of integers are accepted).
            k: items per user.

        Returns:
            ``{"user_id", "rank", "item_id", "score"}``: one entry per recommendation,
            users in the order given, best item first (rank 1); the columns of
            ``tfdirectspec recommend --output`` (``pyarrow.table(result)`` is that file).

        Raises:
            InputError: an unknown user id (named).

        Example:
            >>> Run.open("runs/mf").recommend(["42"], k=3)  # doctest: +SKIP
            {'user_id': array([42, 42, 42]), 'rank': array([1, 2, 3], dtype=int32),
             'item_id': array([...]), 'score': array([...], dtype=float32)}
        """
        recommender = self.recommender()
        return recommender.rows(recommender.user_index(list(user_ids), where="user_ids"), k)

    def recommend_for_items(self, item_ids: Sequence[Any], k: int = 10) -> dict[str, np.ndarray]:
        """The top ``k`` items for a new user who touched ``item_ids`` (folded in, no training).

        Returns ``{"rank", "item_id", "score"}``, the given items excluded; see
        :mod:`tfdirectspec.serving.fold_in` for the fold-in (the mean of the items'
        unit rows).

        Raises:
            InputError: an unknown item id (named).
        """
        recommender = self.recommender()
        return recommender.fold_in_rows(recommender.item_index(list(item_ids), "item_ids"), k)

    def exclusions(self) -> sp.csr_matrix:
        """The train ∪ valid pairs of the run's data, as stored in the run (CSR)."""
        file = self.folder / EXCLUSIONS_FILE
        if not file.is_file():
            raise InputError(
                f"{self.folder}: no {EXCLUSIONS_FILE} (written by an older version; "
                "train the run again)"
            )
        try:
            return sp.load_npz(file).tocsr()
        except (OSError, ValueError) as error:
            raise InputError(f"{file}: unreadable ({error})") from None

    # -- writing -----------------------------------------------------------------------

    def write_config(self, config: TrainConfig) -> None:
        """Records the resolved config (first thing a run writes: ``--resume`` needs it)."""
        write_json(self.folder / CONFIG_FILE, config.to_dict())

    def commit(self, model: keras.Model, metrics: dict[str, Any], data: InteractionData) -> Path:
        """Writes model, id maps, exclusions and metrics, then moves the run into place."""
        if self.finished:
            raise RuntimeError(f"{self.path} is already committed")
        model.save(self.folder / MODEL_FILE)
        data.save_id_maps(self.folder)
        sp.save_npz(self.folder / EXCLUSIONS_FILE, data.exclusions(), compressed=True)
        write_json(self.folder / METRICS_FILE, metrics)
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.folder, self.path)
        self.folder = self.path
        # Only now: until the run is in place, a kill must still find them to resume.
        # A kill before this line leaves two spare folders in a finished run, read by nothing.
        for scratch in (self.checkpoint_dir, self.evaluation_dir):
            shutil.rmtree(scratch, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        """Removes the staging folder of an unfinished run."""
        if not self.finished:
            shutil.rmtree(self.folder, ignore_errors=True)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Writes JSON via a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_json(value, indent=2) + "\n")
    os.replace(tmp, path)


def _read_json(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise InputError(f"{file.parent}: not a finished run (no {file.name})")
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{file}: unreadable ({error})") from None


__all__ = ["ID_MAPS_FILE", "Run", "write_json"]
