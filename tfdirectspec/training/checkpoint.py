"""Atomic epoch-end checkpoints: weights, optimizer state and epoch committed together.

A checkpoint is written with ``tf.train.Checkpoint`` and committed by
``tf.train.CheckpointManager``: the data and index files of ``ckpt-<epoch>``
are written first, and the checkpoint only counts once the small
``checkpoint`` state file naming it has been replaced (a write to a temporary
file and a rename, which is atomic). A process killed at any moment therefore
leaves the previous committed checkpoint readable; the files of an
uncommitted one are ignored and overwritten by the next save. The epoch is a
variable inside the checkpoint, so the weights and the epoch they belong to
cannot disagree (Keras' ``BackupAndRestore`` writes them in two steps). The
guarantee is for a killed process (SIGKILL at any step of a save, which the
project's kill tests check); a power cut is not covered by them.

Layout of ``directory``::

    checkpoint                      # state file: the committed checkpoints, newest last
    ckpt-<epoch>.index              # one pair per kept checkpoint (``keep``)
    ckpt-<epoch>.data-00000-of-00001

Each checkpoint holds the model's variables (``model/...``), the optimizer's
(``optimizer/...``: its step counter and slots) and ``epoch``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import tensorflow as tf

from tfdirectspec.backend import require_tensorflow_backend

require_tensorflow_backend()  # Keras on TensorFlow, or one clear error now

#: Name of the epoch counter inside a checkpoint (``tf.train.Checkpoint`` keyword).
EPOCH_KEY = "epoch"


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves an atomic checkpoint at epoch ends and restores it when training begins.

    The checkpoint holds the model's variables, the optimizer's state (step
    counter included, which learning-rate schedules read) and the number of
    completed epochs, committed together: after a kill at any moment the
    checkpoint in force is the new one or the previous one, never a mix of the
    two or a half-written file.

    Resuming: read :meth:`completed_epochs` before training and pass it as
    ``initial_epoch`` to ``fit`` (``train(initial_epoch=...)``); the callback
    restores that checkpoint in ``on_train_begin``. Place it after callbacks
    whose own state must not fall behind the checkpoint (``train()`` runs its
    ``RankingEvaluation`` before the callbacks it is given), and call
    :meth:`delete` once the trained model is safely stored elsewhere: the
    callback never deletes its checkpoints itself, so a kill between the end
    of training and that point still resumes.

    Args:
        directory: folder of the checkpoints (created on the first save).
        every: save every ``every`` epochs; the last epoch is always saved.
            ``tfdirectspec train`` saves every epoch: ``RankingEvaluation``
            keeps the best weights a checkpoint one epoch behind it needs.
        keep: committed checkpoints kept (older ones are deleted after a save).
        write: whether this process writes checkpoints; under multi-worker
            training only the chief should (the others still restore).

    Extension points: a subclass may override :meth:`on_save_begin`,
    :meth:`on_save_written` and :meth:`on_save_end` (the steps of a save, in
    that order; no-ops here, called only by a process that writes), e.g. to
    log or time the saves, report progress, or copy each committed checkpoint
    elsewhere. Batch and training ends are Keras' own callback methods
    (``on_train_batch_end``, ``on_train_end``), which this class leaves to
    subclasses; an override of ``on_train_begin`` or ``on_epoch_end`` (which
    restore and save) must call ``super()``.

    Example:
        >>> import tempfile, keras, numpy as np
        >>> from tfdirectspec.data import InteractionSampler
        >>> from tfdirectspec.data.interactions import from_pairs
        >>> from tfdirectspec.losses import DirectSpecPlusLoss
        >>> from tfdirectspec.models import RetrievalModel
        >>> from tfdirectspec.towers import MFTower
        >>> data = from_pairs(np.array([[u, (u * 3 + k) % 7] for u in range(8) for k in range(3)]))
        >>> sampler = InteractionSampler(data.train, batch_size=4, seed=0)
        >>> model = RetrievalModel(MFTower(8, 7, 4, seed=0), DirectSpecPlusLoss())
        >>> model.compile(optimizer=keras.optimizers.SGD(1.0))
        >>> checkpoint = EpochCheckpoint(tempfile.mkdtemp())
        >>> start = checkpoint.completed_epochs()  # 0: nothing to resume
        >>> stream = sampler.stream(start_step=start * sampler.steps_per_epoch)  # exact resume
        >>> history = model.fit(stream, epochs=2, callbacks=[checkpoint], verbose=0,
        ...     steps_per_epoch=sampler.steps_per_epoch, initial_epoch=start)
        >>> checkpoint.completed_epochs()
        2
        >>> checkpoint.delete()
    """

    def __init__(
        self, directory: str | Path, every: int = 1, keep: int = 2, write: bool = True
    ) -> None:
        super().__init__()
        if every < 1 or keep < 1:
            raise ValueError(f"every and keep must be positive, got {every} and {keep}")
        self.directory = Path(directory)
        self.every, self.keep, self.write = int(every), int(keep), bool(write)
        #: Epochs completed by the checkpoint restored in ``on_train_begin`` (0: none).
        self.restored_epoch = 0
        self._epoch: tf.Variable | None = None
        self._checkpoint: tf.train.Checkpoint | None = None
        self._tracked: keras.Model | None = None
        self._manager: tf.train.CheckpointManager | None = None

    def latest(self) -> str | None:
        """Path prefix of the newest committed checkpoint, None when there is none."""
        if not self.directory.is_dir():
            return None
        return tf.train.latest_checkpoint(str(self.directory))

    def completed_epochs(self) -> int:
        """Epochs completed by the newest committed checkpoint (0 when there is none).

        Read from the checkpoint itself, without a model.
        """
        path = self.latest()
        if path is None:
            return 0
        return int(
            tf.train.load_checkpoint(path).get_tensor(f"{EPOCH_KEY}/.ATTRIBUTES/VARIABLE_VALUE")
        )

    def restore(self, model: keras.Model) -> int:
        """Restores the newest committed checkpoint into ``model`` and its optimizer.

        Returns:
            The epochs that checkpoint completed (0, and nothing restored, when
            there is none).

        Raises:
            AssertionError: a variable of the model or optimizer has no value
                in the checkpoint (a different model or config).
        """
        path = self.latest()
        if path is None:
            return 0
        checkpoint = self._tracking(model)
        # Optimizer slots are created lazily; they must exist to receive their values.
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        checkpoint.read(path).assert_existing_objects_matched()
        return int(self._epoch.numpy())

    def save(self, epoch: int) -> str | None:
        """Commits a checkpoint of ``self.model`` after ``epoch`` completed epochs.

        Returns:
            The checkpoint's path prefix (None when this process does not write).
        """
        self._tracking(self.model)
        self._epoch.assign(epoch)
        if not self.write:
            return None
        self.on_save_begin(epoch)
        # Write callbacks run after the files are written and before the manager's own,
        # which commits the checkpoint (updates the state file).
        options = tf.train.CheckpointOptions(
            experimental_write_callbacks=[lambda path: self.on_save_written(path, epoch)]
        )
        path = self._manager.save(checkpoint_number=epoch, options=options)
        self.on_save_end(path, epoch)
        return path

    def on_save_begin(self, epoch: int) -> None:
        """Called when the checkpoint of ``epoch`` completed epochs is about to be written.

        No file of it exists yet; the previous committed checkpoint is in force. The
        default does nothing: override it to log or time the save.
        """

    def on_save_written(self, path: str, epoch: int) -> None:
        """Called when the files of the checkpoint ``path`` (a prefix) are written,
        before it is committed.

        ``path.index`` and ``path.data-*`` exist, but the state file does not name
        them yet: a process that dies here leaves the previous committed checkpoint in
        force. The default does nothing: override it, e.g., to checksum the files.
        """

    def on_save_end(self, path: str, epoch: int) -> None:
        """Called once the checkpoint ``path`` of ``epoch`` completed epochs is committed.

        It is now what :meth:`latest` returns (older ones beyond ``keep`` are
        deleted). The default does nothing: override it, e.g., to report progress
        or copy the checkpoint elsewhere.
        """

    def delete(self) -> None:
        """Removes the checkpoints (training completed and its result stored)."""
        # The state file first: a folder half-deleted by a kill then holds no checkpoint.
        (self.directory / "checkpoint").unlink(missing_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.restored_epoch = self.restore(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        done = epoch + 1
        if done % self.every == 0 or done == self.params.get("epochs"):
            self.save(done)

    def _tracking(self, model: keras.Model) -> tf.train.Checkpoint:
        """The ``tf.train.Checkpoint`` of ``model``, its optimizer and the epoch counter.

        Keras 3 layers and optimizers are trackable on the TensorFlow backend,
        so their variables are found by attribute (``model/tower/user_embeddings``),
        independent of Keras' uniquified variable names.
        """
        if self._tracked is not model:
            self._tracked = model
            self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name=EPOCH_KEY)
            objects = {"model": model, EPOCH_KEY: self._epoch}
            if getattr(model, "optimizer", None) is not None:
                objects["optimizer"] = model.optimizer
            self._checkpoint = tf.train.Checkpoint(**objects)
            self._manager = tf.train.CheckpointManager(
                self._checkpoint, str(self.directory), max_to_keep=self.keep, checkpoint_name="ckpt"
            )
        return self._checkpoint
