"""Serving: TF Serving SavedModel exports of trained runs and their warm-up requests.

Typical use::

    from tfdirectspec.serving import export_run

    version_dir = export_run("runs/mf", "saved_models/mf", k=20)

    import tensorflow as tf
    served = tf.saved_model.load(str(version_dir))
    out = served.signatures["serving_default"](user_ids=tf.constant([42], tf.int64))

See :mod:`tfdirectspec.serving.module` for the signatures and their semantics.
Importing this package imports TensorFlow; ``tensorflow-serving-api`` (the
``serving`` extra) is only needed to write or read warm-up requests.
"""

from __future__ import annotations

from tfdirectspec.serving.export import (
    DEFAULT_K,
    export_run,
    export_tables,
    read_info,
    tables_from_run,
)
from tfdirectspec.serving.module import SIGNATURES, ExportTables, RecommenderModule, build_module
from tfdirectspec.serving.recommend import recommend
from tfdirectspec.serving.versions import (
    list_versions,
    next_version,
    resolve_version_dir,
    write_models_config,
)

__all__ = [
    "DEFAULT_K",
    "SIGNATURES",
    "ExportTables",
    "RecommenderModule",
    "build_module",
    "export_run",
    "export_tables",
    "list_versions",
    "next_version",
    "read_info",
    "recommend",
    "resolve_version_dir",
    "tables_from_run",
    "write_models_config",
]
