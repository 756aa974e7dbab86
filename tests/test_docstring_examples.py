"""Every ``>>>`` example in the library's docstrings runs, and prints what it says.

The modules are collected with ``pkgutil`` (whatever modules exist), each one's examples
run with :mod:`doctest` in the module's namespace, with ``tempfile`` pointed at a
per-test folder so examples that write files leave nothing behind.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import tempfile

import pytest

import tfdirectspec

#: Modules never imported here: importing ``__main__`` runs the command line.
NOT_IMPORTABLE = frozenset({"tfdirectspec.__main__"})

#: Modules whose examples need an optional extra: module -> the package it needs.
NEEDS_EXTRA = {"tfdirectspec.serving.warmup": "tensorflow_serving"}

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def library_modules() -> list[str]:
    """The package and every module under it, sorted."""
    names = {tfdirectspec.__name__}
    for info in pkgutil.walk_packages(tfdirectspec.__path__, prefix="tfdirectspec."):
        names.add(info.name)
    return sorted(names - NOT_IMPORTABLE)


MODULES = library_modules()


def test_collection_finds_the_library() -> None:
    for name in ("tfdirectspec.losses.directspec_plus", "tfdirectspec.towers.mf"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path, monkeypatch) -> None:
    extra = NEEDS_EXTRA.get(name)
    if extra is not None and importlib.util.find_spec(extra) is None:
        pytest.skip(f"needs {extra} (the serving extra)")
    module = importlib.import_module(name)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in finder.find(module, name):
        # Only the module's own objects (not ones it imports from elsewhere).
        if test.filename and module.__file__ and test.filename != module.__file__:
            continue
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)
