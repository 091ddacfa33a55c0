"""Narrow columns: the in-memory copies (live events, the entity mirror) keep each
column in the smallest type that holds it exactly, so live state costs bytes per event
in the tens, not the hundreds (issue 12, S4), and reads widen back to what SQLite gives.
"""

from __future__ import annotations

import numpy as np


def code_dtype(n_values: int) -> np.dtype:
    """The smallest signed integer type for codes into `n_values` values, -1 (absent)
    and `codes + 1` (what a count by code adds) included."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_values < np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def narrow_codes(codes: np.ndarray, n_values: int) -> np.ndarray:
    """Codes (-1 absent) as code_dtype(n_values)."""
    return codes.astype(code_dtype(n_values))


def narrow_floats(values: np.ndarray) -> np.ndarray:
    """float32 when every value (NaN included) is exactly a float32, else float64."""
    values = np.asarray(values, np.float64)
    with np.errstate(over="ignore"):
        narrow = values.astype(np.float32)
    return narrow if np.array_equal(narrow, values, equal_nan=True) else values


__all__ = ["code_dtype", "narrow_codes", "narrow_floats"]
