"""Importing tfdirectspec changes nothing in the process; a quiet TensorFlow is opt-in.

Each probe runs in a fresh interpreter (``-I``: no PYTHONPATH, no user site; this tree is
put on ``sys.path`` explicitly), since this test process imported TensorFlow and the
library long ago. A probe snapshots the environment, ``sys.meta_path``,
``sys.path_hooks`` and the identity of file descriptor 2, runs its steps, and reports
what differs after each step; it also records every ``os.dup2`` call, which would catch
fd 2 redirected and restored in between.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from tfdirectspec import backend, cli

#: Subprocesses or scale: `pytest -m "not slow"` skips this file (.ci/run runs it).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, os, sys
sys.path.insert(0, {root!r})

dup2_calls = []
_dup2 = os.dup2


def recording_dup2(fd, fd2, inheritable=True):
    dup2_calls.append([fd, fd2])
    return _dup2(fd, fd2, inheritable)


os.dup2 = recording_dup2


def snapshot():
    st = os.fstat(2)
    return {{
        "environ": dict(os.environ),
        "meta_path": list(sys.meta_path),
        "path_hooks": list(sys.path_hooks),
        "fd2": [st.st_ino, st.st_dev, os.readlink("/proc/self/fd/2")],
    }}


def name(obj):
    kind = obj if isinstance(obj, type) else type(obj)
    return kind.__module__ + "." + kind.__qualname__


def changes(before, after):
    env_keys = sorted(set(before["environ"]) | set(after["environ"]))
    found = {{
        "environ": {{
            k: [before["environ"].get(k), after["environ"].get(k)]
            for k in env_keys
            if before["environ"].get(k) != after["environ"].get(k)
        }},
        "dup2": list(dup2_calls),
    }}
    for key in ("meta_path", "path_hooks"):  # identity, reported by class name
        if before[key] != after[key]:
            found[key] = [name(f) for f in after[key]]
    if before["fd2"] != after["fd2"]:
        found["fd2"] = [before["fd2"], after["fd2"]]
    return found


{pre}
before = snapshot()
report = []
for step in {steps!r}:
    exec(step)
    report.append(changes(before, snapshot()))
module = sys.modules.get("tfdirectspec")
print(json.dumps({{"changes": report, "file": getattr(module, "__file__", None)}}))
"""

#: Nothing changed: what :func:`probe` reports for a step that left the process alone.
UNCHANGED = {"environ": {}, "dup2": []}

#: What a user's process has imported before the library, by the order under test.
ORDERS = {
    "tfdirectspec alone": "",
    "keras first": "import keras",
    "tensorflow first": "import tensorflow",
}

#: Import the package, then touch a public name that loads TensorFlow and Keras.
IMPORT_AND_USE = ["import tfdirectspec", "tfdirectspec.DirectSpecPlusLoss"]


def _env() -> dict[str, str]:
    """This environment without the variables the library used to set (so a change shows)."""
    drop = ("TF_", "TFDIRECTSPEC_", "KERAS_BACKEND")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def probe(pre: str, steps: list[str], tmp_path: Path) -> dict:
    """Runs ``pre``, snapshots, runs ``steps``; the changes after each step and the package file."""
    code = PROBE.format(root=str(ROOT), pre=pre, steps=steps)
    # An empty Keras home: Keras defaults to TensorFlow whatever ~/.keras/keras.json says.
    env = {**_env(), "KERAS_HOME": str(tmp_path / "keras-home")}
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env, timeout=180
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    if found["file"] is not None:  # this tree's copy, not the editable install's
        assert Path(found["file"]).is_relative_to(ROOT), found["file"]
    return found


@pytest.mark.parametrize("order", ORDERS)
def test_import_and_first_use_change_nothing(order, tmp_path):
    imported, used = probe(ORDERS[order], IMPORT_AND_USE, tmp_path)["changes"]
    assert imported == UNCHANGED
    if order == "tfdirectspec alone":
        # Loading the loss imports Keras and TensorFlow, which set variables of their own
        # (TF2_BEHAVIOR, ...) and add finders (absl, six): exactly what a process that
        # imports them without the library sees, nothing more.
        (reference,) = probe("", ["import keras\nimport tensorflow"], tmp_path)["changes"]
        assert used == reference
        assert not {"KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL"} & set(used["environ"])
    else:
        assert used == UNCHANGED


def test_importing_every_module_changes_nothing(tmp_path):
    steps = [
        "import importlib, pkgutil, tfdirectspec\n"
        "for info in pkgutil.walk_packages(tfdirectspec.__path__, prefix='tfdirectspec.'):\n"
        "    if info.name != 'tfdirectspec.__main__':  # that one runs the command line\n"
        "        importlib.import_module(info.name)\n"
    ]
    # Keras first, so what TensorFlow itself sets when it loads is in the baseline.
    (changed,) = probe("import keras", steps, tmp_path)["changes"]
    assert changed == UNCHANGED


def test_a_script_opts_in_to_a_quiet_start_up(tmp_path):
    code = (
        f"import os, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "import tfdirectspec\n"
        "assert tfdirectspec.quiet_tensorflow_startup()\n"
        "import keras\n"  # imports TensorFlow: its start-up lines are filtered
        "from tfdirectspec.backend import _QuietTensorFlowFinder\n"
        "assert not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path)\n"
        "assert not tfdirectspec.quiet_tensorflow_startup()  # too late now: does nothing\n"
        "tfdirectspec.MFTower(3, 4, 2, seed=0)\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    env = {**_env(), "KERAS_HOME": str(tmp_path / "keras-home")}
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert result.stderr == ""


def test_quiet_start_up_is_a_no_op_once_tensorflow_is_loaded():
    environ, meta_path = dict(os.environ), list(sys.meta_path)
    assert backend.quiet_tensorflow_startup() is False  # this process imported TensorFlow
    assert (dict(os.environ), list(sys.meta_path)) == (environ, meta_path)


def test_the_command_line_prints_no_start_up_lines(data_dir, tmp_path):
    argv = ["train", "--data-dir", str(data_dir), "--epochs", "1", "--dim", "4"]
    argv += ["--batch-size", "16", "--no-spectrum", "--output", str(tmp_path / "run")]
    code = (
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        f"from tfdirectspec.cli import main\nsys.exit(main({argv!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, env=_env(), timeout=240
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no CUDA probe, no cuInit, no absl notice
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_every_keras_module_checks_the_backend_when_imported():
    """A module that imports Keras calls ``require_tensorflow_backend()`` at its top level."""
    missing = []
    for path in sorted((ROOT / "tfdirectspec").rglob("*.py")):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        imports_keras = any(
            isinstance(node, ast.Import) and any(a.name == "keras" for a in node.names)
            for node in body
        )
        checks = any(
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", None) == "require_tensorflow_backend"
            for node in body
        )
        if imports_keras and not checks:
            missing.append(str(path.relative_to(ROOT)))
    assert not missing


def test_keras_on_another_backend_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(backend.KerasBackendError, match="'jax'.*KERAS_BACKEND=tensorflow"):
        backend.require_tensorflow_backend()


def test_the_command_line_reports_another_backend_in_one_line(data_dir, tmp_path):
    # No second backend is installed here: the script makes Keras report one (after the
    # command's own set-up, so TensorFlow loads quietly as it would inside the command).
    out = tmp_path / "run"
    argv = ["train", "--data-dir", str(data_dir), "--epochs", "1", "--output", str(out)]
    code = (
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from tfdirectspec.cli import main, prepare_process\nprepare_process()\n"
        "import keras\nkeras.backend.backend = lambda: 'jax'\n"
        f"sys.exit(main({argv!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, env=_env(), timeout=240
    )
    assert result.returncode == cli.EXIT_USAGE
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Keras on the TensorFlow backend" in lines[0], result.stderr
    assert not out.exists()
