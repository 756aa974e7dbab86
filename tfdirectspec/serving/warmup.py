"""TF Serving warm-up requests: ``assets.extra/tf_serving_warmup_requests``.

TF Serving replays the ``PredictionLog`` records of this TFRecord file when it
loads a version, before it marks the version available, so the first real
requests do not pay for graph initialisation. The records are built with the
``tensorflow-serving-api`` protos, an optional dependency
(``pip install tfdirectspec[serving]``); it is imported only here, lazily.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfdirectspec.errors import InputError

#: Users per request of the batched warm-up request.
#: File name TF Serving reads warm-up requests from, inside ``assets.extra``.
WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_BATCH = 64


def serving_api_available() -> bool:
    """Whether ``tensorflow-serving-api`` is installed."""
    try:
        return importlib.util.find_spec("tensorflow_serving.apis") is not None
    except ModuleNotFoundError:
        return False


def _apis():
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError:
        raise InputError(
            "warm-up requests need tensorflow-serving-api (pip install 'tfdirectspec[serving]')"
        ) from None
    return model_pb2, predict_pb2, prediction_log_pb2


def warmup_inputs(
    user_ids: np.ndarray, item_ids: np.ndarray
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The ``(signature, inputs)`` pairs replayed at load: every signature, 1 and many rows.

    Args:
        user_ids: the export's raw user ids (index order).
        item_ids: the export's raw item ids.
    """
    users, items = _plain(user_ids), _plain(item_ids)
    many = min(WARMUP_BATCH, len(users))
    pairs = min(many, len(items))
    return [
        ("serving_default", {"user_ids": users[:1]}),
        ("serving_default", {"user_ids": users[:many]}),
        ("user_embeddings", {"user_ids": users[:1]}),
        ("item_embeddings", {"item_ids": items[:1]}),
        ("score", {"user_ids": users[:pairs], "item_ids": items[:pairs]}),
        ("recommend_for_items", {"item_ids": items[None, : min(3, len(items))]}),
    ]


def write_warmup_requests(
    path: str | os.PathLike,
    model_name: str,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
) -> int:
    """Writes the warm-up ``PredictionLog`` records.

    Args:
        path: the file, ``<version>/assets.extra/tf_serving_warmup_requests``.
        model_name: the model's name in the server (its base path's folder name).
        user_ids: the export's raw user ids.
        item_ids: the export's raw item ids.

    Returns:
        The number of records written.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / WARMUP_FILE
        >>> write_warmup_requests(path, "demo", np.array([10, 11]), np.array([100, 101, 102]))
        6
    """
    model_pb2, predict_pb2, prediction_log_pb2 = _apis()
    records = warmup_inputs(user_ids, item_ids)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in records:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
            )
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return len(records)


def read_warmup_requests(path: str | os.PathLike) -> list:
    """Parses a warm-up file into ``PredictionLog`` messages.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / WARMUP_FILE
        >>> write_warmup_requests(path, "demo", np.array([10, 11]), np.array([100, 101, 102]))
        6
        >>> logs = read_warmup_requests(path)
        >>> [log.predict_log.request.model_spec.signature_name for log in logs][2:]
        ['user_embeddings', 'item_embeddings', 'score', 'recommend_for_items']
    """
    _, _, prediction_log_pb2 = _apis()
    logs = []
    for raw in tf.data.TFRecordDataset(str(Path(path))):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(raw.numpy())
        logs.append(log)
    return logs


def _plain(ids: np.ndarray) -> np.ndarray:
    """Raw ids as a tensor proto takes them: int64 or bytes."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64)
    return np.char.encode(ids.astype(str), "utf-8").astype(object)
