"""TOML writing of a :class:`~tfdirectspec.training.config.TrainConfig` (``best.toml``, trials).

The file is flat, one key a line, and ``tfdirectspec train --config`` reads it back as the
same config.
"""

from __future__ import annotations

import os
from pathlib import Path

from tfdirectspec.training.config import TrainConfig
from tfdirectspec.tuning.space import toml_scalar


def config_toml(config: TrainConfig, comment: str = "") -> str:
    """A flat TOML file of ``config`` that ``tfdirectspec train --config`` reads back.

    Keys whose value is None (e.g. ``tau0`` when not adaptive) are left out: TOML
    has no null and the defaults are None.

    Example:
        >>> import tomllib
        >>> c = TrainConfig(loss="bpr", optimizer="adam", lr=1e-3, batch_size=2048)
        >>> TrainConfig().updated(tomllib.loads(config_toml(c)), "x") == c
        True
    """
    lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
    for key, value in config.to_dict().items():
        if value is None:
            continue
        text = (
            "[" + ", ".join(toml_scalar(v) for v in value) + "]"
            if isinstance(value, list)
            else toml_scalar(value)
        )
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def write_config_toml(path: str | Path, config: TrainConfig, comment: str = "") -> None:
    """Writes :func:`config_toml` via a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(config_toml(config, comment))
    os.replace(tmp, path)
