"""Turning what a hand-in returned into JSON data the grader can read (worker side)."""

from __future__ import annotations

import math
from typing import Any


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data: strings, numbers and lists kept, anything else described by its type."""
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value) if isinstance(value, float) else value
    if isinstance(value, list | tuple) and depth < 3:
        return [jsonable(v, depth + 1) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "shape") and depth < 3:  # numpy arrays, numpy scalars
        try:
            return jsonable(value.tolist(), depth)
        except Exception:  # noqa: BLE001 - an object that only looks like an array
            pass
    return {"unsupported_type": type(value).__name__}


def type_name(value: Any) -> str:
    """What a hand-in returned, for reports: ``list``, ``ndarray``, ``str``."""
    return type(value).__name__


def as_float(value: Any) -> float:
    """``value`` as a float; NaN for what is not a number (an answer the grader cannot read)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number
