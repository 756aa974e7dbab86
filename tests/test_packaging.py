"""Packaging: a plain `pip install .` must ship every subpackage and the zoo configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tfdirectspec.training.zoo import loss_slug

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "tfdirectspec").rglob("__init__.py")
    }
    assert on_disk <= listed, f"missing from pyproject packages: {sorted(on_disk - listed)}"
    assert config["package-dir"]["tfdirectspec.zoo"] == "models"
    assert list((ROOT / "models").glob("*.toml"))


def _requirements(lines) -> set[str]:
    return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}


def test_requirements_txt_lists_the_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = _requirements((ROOT / "requirements.txt").read_text().splitlines())
    assert listed == set(project["dependencies"])


def test_every_data_folder_is_a_listed_package_with_its_files():
    """Folders of run-time data (zoo configs, recipes, search spaces, embedded data) ship."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, patterns = set(config["packages"]), config["package-data"]
    folders = {"tfdirectspec.data._embedded": ROOT / "tfdirectspec" / "data" / "_embedded"}
    for folder in (ROOT / "models").rglob("*"):
        if folder.is_dir() and any(folder.glob("*.toml")):
            package = ".".join(("tfdirectspec", "zoo", *folder.relative_to(ROOT / "models").parts))
            folders[package] = folder
    for package, folder in folders.items():
        assert package in listed, f"{folder} is not shipped: add {package} to packages"
        shipped = {p for pattern in patterns.get(package, []) for p in folder.glob(pattern)}
        data = {p for p in folder.iterdir() if p.suffix in (".toml", ".npz")}
        assert data <= shipped, f"not in package-data: {sorted(map(str, data - shipped))}"


def test_the_installed_package_reads_its_default_recipes_and_search_spaces(tmp_path):
    """Through importlib.resources, from the installed package (not this checkout)."""
    code = (
        "import importlib.resources as r, json, tfdirectspec\n"
        "from tfdirectspec.training.config import LOSSES\n"
        "from tfdirectspec.training.zoo import loss_slug\n"
        "zoo = r.files('tfdirectspec.zoo')\n"
        "print(json.dumps({'file': tfdirectspec.__file__,\n"
        "  'defaults': {l: zoo.joinpath('defaults').joinpath(loss_slug(l) + '.toml').is_file()"
        " for l in LOSSES},\n"
        "  'recipe': zoo.joinpath('defaults').joinpath('directspec-plus.toml').read_text(),\n"
        "  'search': sorted(p.name for p in zoo.joinpath('search').iterdir()),\n"
        "  'embedded': r.files('tfdirectspec.data._embedded').joinpath('citeulike.npz')"
        ".is_file()}))\n"
    )
    # -I: no PYTHONPATH, no current folder on sys.path: what a user's interpreter imports.
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    source_tree = ROOT / "tfdirectspec"  # CI's venv may live inside the checkout: not this
    if result.returncode != 0 or source_tree in Path(json.loads(result.stdout)["file"]).parents:
        # An editable install imports the source tree: nothing installed to inspect.
        if os.environ.get("CI"):
            raise AssertionError(f"CI must install the package: {result.stderr[-500:]}")
        pytest.skip("tfdirectspec is not installed outside this checkout")
    found = json.loads(result.stdout)
    assert "site-packages" in found["file"]
    assert all(found["defaults"].values()), found["defaults"]
    assert "[train]" in found["recipe"] and "[schedule]" in found["recipe"]
    assert {f"{loss_slug(loss)}.toml" for loss in ("directspec+", "bpr")} <= set(found["search"])
    assert found["embedded"]
