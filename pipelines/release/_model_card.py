"""Model cards of exported models: ``model_card.json`` and ``MODEL_CARD.md`` beside the versions.

A card records what a shipped export is: the data, the full training config,
the test metrics the run reported (which re-evaluating the export's tables
reproduces), the export's version and size, and the commands that produced
it. It sits in the model's base path (``saved_models/NAME/``), which TF
Serving ignores since it is not an integer version folder.

A helper of ``build_zoo_exports.py`` (imported from this folder as ``_model_card``); not part
of the library: ``tfdirectspec export`` writes no card.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from typing import Any

from tfdirectspec.json_output import to_json

#: File names of a card.
CARD_JSON = "model_card.json"
CARD_MARKDOWN = "MODEL_CARD.md"
#: Metrics shown in the Markdown table, in order.
_SHOWN = ("recall", "ndcg", "precision", "hitrate")


def folder_size(path: str | os.PathLike) -> int:
    """Total bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def card_record(
    name: str,
    version_dir: str | os.PathLike,
    metrics: dict[str, Any],
    commands: list[str],
    description: str = "",
) -> dict[str, Any]:
    """The card of one export.

    Args:
        name: the model's name (its base path's folder name).
        version_dir: the exported version folder.
        metrics: the source run's ``metrics.json``.
        commands: shell commands that reproduce the export, in order.
        description: one paragraph about the model.

    Returns:
        A JSON-able dict with ``name``, ``description``, ``data``, ``config``,
        ``metrics`` (``test``, ``erank``, ``epochs_run``, ``train_seconds``), ``export``
        (``version``, ``k``, ``size_bytes``, ``signatures``), ``commands`` and
        ``environment``.

    Example:
        >>> from tfdirectspec.serving.module import ExportTables
        >>> tables = ExportTables.example()  # users 10, 11; items 100-102; seen: 10-100, 11-102
        >>> import tempfile
        >>> from tfdirectspec.serving import export_tables
        >>> root = Path(tempfile.mkdtemp())
        >>> version_dir = export_tables(tables, root / "demo", k=2, warmup=False)
        >>> metrics = {"test": {"ndcg@20": 0.23, "users_evaluated": 2}, "epochs_run": 3}
        >>> card = card_record("demo", version_dir, metrics, ["tfdirectspec train"])
        >>> card["export"]["version"], card["export"]["k"], card["metrics"]["test"]
        (1, 2, {'ndcg@20': 0.23})
        >>> json_path, md_path = write_model_card(version_dir.parent, card)
        >>> md_path.read_text().splitlines()[0]
        '# demo'
    """
    import keras
    import tensorflow as tf

    import tfdirectspec
    from tfdirectspec.serving.export import read_info

    version_dir = Path(version_dir)
    info = read_info(version_dir)
    config = metrics.get("config", {})
    return {
        "name": name,
        "description": description,
        "data": {
            "dataset": config.get("dataset") or config.get("data_dir"),
            "valid_fraction": config.get("valid_fraction"),
            "seed": config.get("seed"),
            "counts": metrics.get("data"),
        },
        "config": config,
        "metrics": {
            "test": {k: v for k, v in (metrics.get("test") or {}).items() if "@" in k},
            "users_evaluated": (metrics.get("test") or {}).get("users_evaluated"),
            "erank": metrics.get("erank"),
            "best_epoch": metrics.get("best_epoch"),
            "epochs_run": metrics.get("epochs_run"),
            "train_seconds": metrics.get("train_seconds"),
        },
        "export": {
            "version": int(version_dir.name),
            "k": info["k"],
            "dim": info["dim"],
            "num_users": info["num_users"],
            "num_items": info["num_items"],
            "user_id_dtype": info["user_id_dtype"],
            "item_id_dtype": info["item_id_dtype"],
            "signatures": info["signatures"],
            "size_bytes": folder_size(version_dir),
        },
        "commands": list(commands),
        "environment": {
            "tfdirectspec": tfdirectspec.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
        },
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def render_markdown(card: dict[str, Any]) -> str:
    """The human-readable card."""
    config, export, metrics = card["config"], card["export"], card["metrics"]
    # A sampled evaluation adds "ndcg@20_ci95"-like keys: the K ends at the first "_".
    ks = config.get("ks") or sorted(
        {int(k.split("@")[1].split("_")[0]) for k in metrics["test"] if "@" in k}
    )
    lines = [
        f"# {card['name']}",
        "",
        card["description"],
        "",
        "## Data",
        "",
        f"- dataset: `{card['data']['dataset']}` (seed {card['data']['seed']}, "
        f"validation fraction {card['data']['valid_fraction']})",
    ]
    counts = card["data"].get("counts") or {}
    if counts:
        lines.append("- " + ", ".join(f"{k}: {v:,}" for k, v in counts.items()))
    lines += [
        "",
        "## Training",
        "",
        f"- tower `{config.get('tower')}`, loss `{config.get('loss')}`, "
        f"optimizer `{config.get('optimizer')}` lr {config.get('lr')} "
        f"(per-epoch decay {config.get('lr_decay')}), batch {config.get('batch_size')}, "
        f"dim {config.get('dim')}, {metrics.get('epochs_run')} epochs "
        f"({(metrics.get('train_seconds') or 0) / 60:.1f} min)",
        "- full config: `model_card.json` → `config`",
        "",
        "## Test metrics (full ranking, train/validation items masked)",
        "",
        "| K | " + " | ".join(_SHOWN) + " |",
        "|---|" + "---|" * len(_SHOWN),
    ]
    for k in ks:
        values = [metrics["test"].get(f"{name}@{k}") for name in _SHOWN]
        cells = " | ".join("—" if v is None else f"{v:.4f}" for v in values)
        lines.append(f"| {k} | {cells} |")
    erank = metrics.get("erank") or {}
    if erank:
        lines += [
            "",
            "Effective rank of the embeddings (of "
            f"{export['dim']}): users {erank.get('user', 0):.1f}, "
            f"items {erank.get('item', 0):.1f}.",
        ]
    lines += [
        "",
        "## Export",
        "",
        f"- version `{export['version']}`, K = {export['k']}, "
        f"{export['num_users']:,} users × {export['num_items']:,} items, "
        f"ids `{export['user_id_dtype']}`/`{export['item_id_dtype']}`, "
        f"{export['size_bytes'] / 2**20:.1f} MiB",
        "- signatures: " + ", ".join(f"`{s}`" for s in export["signatures"]),
        "",
        "## Reproduce",
        "",
        "```sh",
        *card["commands"],
        "```",
        "",
        "Environment: "
        + ", ".join(f"{k} {v}" for k, v in card["environment"].items())
        + f"; built {card['created']}.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(model_dir: str | os.PathLike, card: dict[str, Any]) -> tuple[Path, Path]:
    """Writes ``model_card.json`` and ``MODEL_CARD.md`` into the model's base path.

    Example:
        (see :func:`card_record` for an example)
    """
    model_dir = Path(model_dir)
    json_path, md_path = model_dir / CARD_JSON, model_dir / CARD_MARKDOWN
    json_path.write_text(to_json(card, indent=2) + "\n")
    md_path.write_text(render_markdown(card))
    return json_path, md_path
