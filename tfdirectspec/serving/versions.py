"""TF Serving model folders: integer versions and the model-server config."""

from __future__ import annotations

import os
from pathlib import Path

from tfdirectspec.parameters import ParameterError

#: Model-server config file written beside the model folders.
MODELS_CONFIG = "models.config"


def list_versions(model_dir: str | os.PathLike) -> list[int]:
    """The integer version folders of a model base path, ascending."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir: str | os.PathLike) -> int:
    """The next free version number: one above the highest existing (1 for none).

    Any entry named by an integer counts (a stray file too), so the number is free.
    """
    model_dir = Path(model_dir)
    taken = (
        [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    )
    return max(taken, default=0) + 1


def resolve_version_dir(path: str | os.PathLike, version: int | None = None) -> Path:
    """The SavedModel folder of ``path``: a version folder, or a base path's latest.

    Args:
        path: ``saved_models/NAME`` (latest version) or ``saved_models/NAME/VERSION``.
        version: a version to pick under a base path.

    Raises:
        InputError: no SavedModel there.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for version in ("1", "2"):
        ...     (root / "demo" / version).mkdir(parents=True)
        ...     (root / "demo" / version / "saved_model.pb").touch()
        >>> resolve_version_dir(root / "demo").relative_to(root)
        PosixPath('demo/2')
        >>> resolve_version_dir(root / "demo", version=1).relative_to(root)
        PosixPath('demo/1')
    """
    path = Path(path)
    if not path.exists():
        raise ParameterError("model", f"{path}: no such directory")
    if (path / "saved_model.pb").is_file() and version is None:
        return path
    versions = list_versions(path)
    if not versions:
        raise ParameterError("model", f"{path}: no SavedModel and no version folders in it")
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise ParameterError("model", f"{path} has no version {chosen} (versions: {versions})")
    target = path / str(chosen)
    if not (target / "saved_model.pb").is_file():
        raise ParameterError("model", f"{target}: no saved_model.pb")
    return target


def model_dirs(root: str | os.PathLike) -> list[Path]:
    """Model base paths under ``root``: folders with a version holding ``saved_model.pb``."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            if any((child / str(v) / "saved_model.pb").is_file() for v in list_versions(child)):
                found.append(child)
    return found


def write_models_config(root: str | os.PathLike, base_path: str = "/models") -> Path:
    """Writes ``root/models.config`` (``--model_config_file``) listing every model in ``root``.

    Args:
        root: folder of model base paths, e.g. ``saved_models``.
        base_path: where ``root`` is mounted inside the server's container.

    Returns:
        The written file.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "demo" / "1").mkdir(parents=True)
        >>> (root / "demo" / "1" / "saved_model.pb").touch()
        >>> print(write_models_config(root).read_text(), end="")
        model_config_list {
          config {
            name: "demo"
            base_path: "/models/demo"
            model_platform: "tensorflow"
          }
        }
    """
    root = Path(root)
    lines = ["model_config_list {"]
    for model in model_dirs(root):
        lines += [
            "  config {",
            f'    name: "{model.name}"',
            f'    base_path: "{base_path.rstrip("/")}/{model.name}"',
            '    model_platform: "tensorflow"',
            "  }",
        ]
    lines.append("}")
    path = root / MODELS_CONFIG
    tmp = root / f".{MODELS_CONFIG}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


# -- reading an export back ------------------------------------------------------------
