"""What a new user meets first: a fast, quiet command line and one-line errors.

These run the installed program in fresh subprocesses: only there do import costs and
TensorFlow's start-up output show (this test process imported TensorFlow long ago).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Subprocesses or scale: `pytest -m "not slow"` skips this file (.ci/run runs it).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "TFDIRECTSPEC_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, **kwargs
    )


def test_import_tfdirectspec_does_not_import_tensorflow():
    code = (
        "import sys, tfdirectspec, tfdirectspec.cli, tfdirectspec.training.config, "
        "tfdirectspec.data.datasets, tfdirectspec.training.run_dir\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')"
    )
    result = _python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


def test_public_names_load_on_first_use():
    code = (
        "import sys, tfdirectspec\n"
        "assert 'tensorflow' not in sys.modules\n"
        "tfdirectspec.quiet_tensorflow_startup()\n"  # a script opts in, as the command line does
        "tower = tfdirectspec.MFTower(3, 4, 2, seed=0)\n"
        "print(type(tower).__name__, 'tensorflow' in sys.modules)"
    )
    result = _python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["MFTower", "True"]
    # Opted in: nothing from TensorFlow's start-up reaches stderr.
    assert result.stderr == ""


def test_export_lists_agree():
    """``__all__``, the lazy name -> module map and the type checkers' imports list one set."""
    import ast

    import tfdirectspec

    source = Path(tfdirectspec.__file__).read_text(encoding="utf-8")
    checked = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            checked |= {a.name for n in node.body if isinstance(n, ast.ImportFrom) for a in n.names}
    defined_here = {"register_keras_objects"}
    assert len(tfdirectspec.__all__) == len(set(tfdirectspec.__all__)), "a duplicate name"
    assert set(tfdirectspec.__all__) == set(tfdirectspec._EXPORTS) | defined_here
    assert checked == set(tfdirectspec._EXPORTS)
    for name, module in tfdirectspec._EXPORTS.items():
        assert getattr(tfdirectspec, name) is getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(
    "content,where",
    [
        ("1\t2\n\tbar\n", "train.tsv:2"),  # an empty user id ("foo" would be a string id)
        ("1\t2\n7\n", "train.tsv:2"),
        ("", "train.tsv"),
    ],
)
def test_a_malformed_file_gives_exactly_one_line_on_stderr(tmp_path, content, where):
    (tmp_path / "train.tsv").write_text(content)
    (tmp_path / "test.tsv").write_text("1\t3\n")
    result = _python(
        "-m", "tfdirectspec", "train", "--data-dir", str(tmp_path), "--output", str(tmp_path / "r")
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tfdirectspec: error: ") and where in lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob(".r.partial"))


def test_a_bad_flag_value_names_the_flag(tmp_path):
    result = _python("-m", "tfdirectspec", "train", "--layers", "11", "--tower", "lightgcn")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "tfdirectspec: error: --layers must be between 0 and 10, got 11"
    ]


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from tfdirectspec.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('tensorflow' in sys.modules, file=sys.stderr)"
    )
    result = _python("-c", code)
    assert "usage: tfdirectspec" in result.stdout
    assert result.stderr.strip() == "False"
