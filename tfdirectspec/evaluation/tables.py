"""Embedding tables as evaluation reads them."""

from __future__ import annotations

import tensorflow as tf

from tfdirectspec.errors import InputError


def as_table(table, name: str, dtype: tf.DType | None = None) -> tf.Tensor:
    """A rank-2 tensor of ``table`` (cast to ``dtype`` if given; no copy otherwise).

    A tensor already on its device stays there.

    Example:
        >>> as_table([[1, 2]], "user_table", tf.float32).dtype
        tf.float32
    """
    table = tf.convert_to_tensor(table)
    if table.shape.rank != 2:
        raise InputError(f"{name} must be 2-D [rows, d], got shape {table.shape}")
    return tf.cast(table, dtype) if dtype is not None and table.dtype != dtype else table
