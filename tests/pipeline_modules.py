"""Imports a script of ``pipelines/`` as a module, so tests can call its functions.

Usage: ``from pipeline_modules import load_pipeline`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_pipeline(name: str) -> ModuleType:
    """``pipelines/<name>.py`` as the module ``name`` (registered in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "pipelines" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
