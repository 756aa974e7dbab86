"""The TensorFlow backend: environment defaults and a quiet start-up.

The ``tensorflow`` wheel probes for CUDA when its shared library loads and writes
what it found straight to file descriptor 2, before Python's logging or
``TF_CPP_MIN_LOG_LEVEL`` can take effect::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 ... cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)

On a CPU-only machine those lines are noise in front of every command, and they would
break the promise that bad input gets one line on stderr. :func:`install` (called when
``tfdirectspec`` is imported) arranges that the first ``import tensorflow`` of the
process, whoever makes it, runs with fd 2 captured; afterwards every captured line is
written back except the known start-up notices (:data:`STARTUP_NOISE`). Genuine
warnings and errors still show, and a user with a GPU loses nothing: the GPU is used
exactly as before, and TensorFlow's later device messages follow
``TF_CPP_MIN_LOG_LEVEL`` as usual. ``TFDIRECTSPEC_TF_STARTUP_LOG=1`` shows the start-up
lines unfiltered.

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


def environment_defaults() -> None:
    """``KERAS_BACKEND=tensorflow`` and C++ logs from warnings up, unless already set."""
    # Keras 3 picks its backend at import; this library is TensorFlow-only.
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
        _uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def _uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]


def install() -> None:
    """Sets the environment defaults and quiets TensorFlow's start-up, if not yet imported."""
    environment_defaults()
    if "tensorflow" in sys.modules or os.environ.get("TFDIRECTSPEC_TF_STARTUP_LOG") == "1":
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
