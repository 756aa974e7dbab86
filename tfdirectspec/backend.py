"""Keras on TensorFlow, and an opt-in quiet start-up of TensorFlow.

Importing this module (or ``tfdirectspec``, or any of its modules) changes nothing in the
process: no environment variable, no import machinery, no file descriptor
(``tests/test_backend_import_side_effects.py`` checks it). What a process needs is asked for
explicitly:

* :func:`require_tensorflow_backend` — the library's Keras modules call it when they are
  imported, so Keras on another backend is one clear error rather than a confusing one
  deep inside a training step. The library never sets ``KERAS_BACKEND`` itself: Keras
  reads it once, and the choice belongs to whoever owns the process.
* :func:`quiet_tensorflow_startup` — the ``tensorflow`` wheel probes for CUDA when its
  shared library loads and writes what it found straight to file descriptor 2, before
  Python's logging or ``TF_CPP_MIN_LOG_LEVEL`` can take effect::

      WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
      I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not ...
      E0000 ... cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)

  On a CPU-only machine those lines are noise in front of every command, and they would
  break the command line's promise that bad input gets one line on stderr. The command
  line (:func:`tfdirectspec.cli.main`) calls it first; a script may opt in the same way.
  ``TFDIRECTSPEC_TF_STARTUP_LOG=1`` shows the start-up lines unfiltered.

Why not depend on ``tensorflow-cpu`` instead: ``tensorflow-serving-api`` (the serving
extra) and keras-rs set-ups pull in ``tensorflow`` itself, and both wheels install the
same ``tensorflow`` package, so one would overwrite the other.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from types import ModuleType

#: Start-up lines of the TensorFlow wheel that say nothing a user can act on.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|cudart_stub\.cc|cuda_(?:dnn|fft|blas|executor|diagnostics)\.cc|Unable to register cu"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit"
    r"|port\.cc:\d+\] oneDNN custom operations are on"
    r"|cpu_feature_guard\.cc|To enable the following instructions"
    r"|computation placer already registered|TF-TRT Warning"
    r"|^\s*$"
)

#: Set to ``1``, :func:`quiet_tensorflow_startup` leaves TensorFlow's start-up lines alone.
STARTUP_LOG_ENV = "TFDIRECTSPEC_TF_STARTUP_LOG"


class KerasBackendError(ImportError):
    """Keras runs on a backend other than TensorFlow (raised when a Keras module is imported)."""


def require_tensorflow_backend() -> None:
    """Raises :class:`KerasBackendError` unless Keras runs on the TensorFlow backend.

    The towers, losses, model, optimizers and callbacks are built from TensorFlow ops
    and ``tf.Variable``\\ s, so they need Keras on TensorFlow; each of their modules calls
    this when it is imported.

    Example:
        >>> require_tensorflow_backend()  # the test process runs Keras on TensorFlow
    """
    import keras  # every caller imports it anyway

    name = keras.backend.backend()
    if name != "tensorflow":
        raise KerasBackendError(
            f"tfdirectspec needs Keras on the TensorFlow backend, but Keras runs on {name!r} "
            "(from KERAS_BACKEND or ~/.keras/keras.json): set KERAS_BACKEND=tensorflow "
            "before Keras is imported"
        )


def quiet_tensorflow_startup() -> bool:
    """Keeps TensorFlow's CPU-only start-up notices off stderr when this process loads it.

    Call it before anything imports TensorFlow (``import keras`` does). It changes this
    process only, and only while TensorFlow is not imported yet:

    * ``TF_CPP_MIN_LOG_LEVEL`` is set to ``2`` if unset, so TensorFlow's C++ INFO and
      WARNING lines (CPU-feature notices, "Local rendezvous is aborting ...") stay off
      stderr while its errors still show;
    * a finder goes first on ``sys.meta_path``. The first ``import tensorflow``, whoever
      makes it, then runs with file descriptor 2 captured (it also lists the GPUs, which
      is when the CUDA driver is probed); afterwards every captured line is written back
      except the known start-up notices (:data:`STARTUP_NOISE`), and the finder removes
      itself. Genuine warnings and errors still show, and with a GPU nothing else changes:
      the GPU is used and logical devices stay configurable.

    Nothing is done once TensorFlow is imported (its notices are out by then), and with
    ``TFDIRECTSPEC_TF_STARTUP_LOG=1`` the start-up lines are left unfiltered. Calling it
    again is harmless.

    Returns:
        whether the first import of TensorFlow will be filtered.

    Example:
        >>> import tfdirectspec
        >>> _ = tfdirectspec.quiet_tensorflow_startup()  # first, before import keras
        >>> import keras
    """
    if "tensorflow" in sys.modules:
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get(STARTUP_LOG_ENV) == "1":
        return False
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
    return True


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern[str] = STARTUP_NOISE) -> Iterator[None]:
    """Captures fd 2 (C++ and Python writes alike); on exit replays the lines not ``noise``.

    Example:
        >>> with filtered_stderr():
        ...     print("cudart_stub.cc:31] Could not find cuda drivers", file=sys.stderr)
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (e.g. some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines() if not noise.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader's ``exec_module`` inside :func:`filtered_stderr`."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module's own spec must name the real loader (pickling, reloads).
        module.__spec__.loader = module.__loader__ = self._loader
        with filtered_stderr():
            self._loader.exec_module(module)
            # The CUDA driver is probed (cuInit) when devices are first listed, not at
            # import; listing physical devices now keeps that notice inside the filter
            # and leaves the runtime uninitialised (logical devices stay configurable).
            module.config.list_physical_devices("GPU")


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual and hands it to :class:`_QuietLoader`, once."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        # One-shot: gone from sys.meta_path before TensorFlow's own imports run.
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec
