"""Valid JSON for everything the product writes or prints: ``null``, never ``NaN``.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which no JSON parser reads
(``jq``, browsers, ``JSON.parse``). :func:`to_json` turns non-finite floats into ``null``
and numpy scalars and arrays into plain values, then serialises with ``allow_nan=False``,
so a value that slipped past the sanitiser is an error rather than invalid output.

Example:
    >>> import numpy as np
    >>> to_json({"ndcg@20": float("nan"), "n": np.int64(3), "r": np.float32(0.5)})
    '{"ndcg@20": null, "n": 3, "r": 0.5}'
"""

from __future__ import annotations

import json
import math
from typing import Any


def sanitized(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and numpy values as Python ones.

    Example:
        >>> sanitized([1.0, float("inf"), (2, float("-inf"))])
        [1.0, None, [2, None]]
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: sanitized(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitized(v) for v in value]
    if type(value).__module__ == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray):
            return sanitized(value.tolist())
        if isinstance(value, np.generic):
            return sanitized(value.item())
    return value


def to_json(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON text, with :func:`sanitized` values and ``allow_nan=False``."""
    return json.dumps(sanitized(value), indent=indent, allow_nan=False)
