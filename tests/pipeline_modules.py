"""The one way tests import a script of ``pipelines/`` (or a helper module there) as a module.

Usage: ``from pipeline_modules import load_pipeline`` (``tests/`` is on ``sys.path``), then
``load_pipeline("benchmarks/bench_memory")`` for ``pipelines/benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"


def load_pipeline(path: str) -> ModuleType:
    """``pipelines/<path>.py`` as the module named after its file (``sys.modules`` holds it).

    The script's folder goes on ``sys.path`` first, as when the script is run, so its own
    imports of sibling modules (``_machine``, ``bench_multiworker``, ...) resolve; a module
    already loaded from the same file is returned as it is.
    """
    file = (PIPELINES / f"{path}.py").resolve()
    if not file.is_file():
        raise FileNotFoundError(f"no pipeline script {file}")
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = file.stem
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == file:
        return loaded
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
