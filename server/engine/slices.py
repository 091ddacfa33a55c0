"""Population-sized C loops in bounded pieces, so the GIL changes hands between them.

A C call keeps the GIL from its start to its end: np.fromiter over a map of dict
look-ups, a float-to-text cast, run over a whole chunk of a population (10k-50k ids),
held it for 10-40 ms at a stretch on the writer, and the serving loop, which needs the
GIL for every call it answers, waited that long (S2: stored ScoreEntities p99 while a
stage, promote or ingest runs). The interpreter hands the GIL over between bytecodes
(every 5 ms when another thread asks), never inside one C call, so the same work done
GIL_SLICE items per call bounds each wait at about a millisecond, for a Python step per
slice, not per item.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["GIL_SLICE", "fromiter_sliced"]

GIL_SLICE = 4_096  # items per C call: ~1 ms of dict look-ups, the longest cast ~1.5 ms


def fromiter_sliced(values: Iterable[object], dtype: DTypeLike, count: int) -> np.ndarray:
    """np.fromiter(values, dtype, count), GIL_SLICE items per call."""
    out = np.empty(count, dtype)
    items = iter(values)
    for at in range(0, count, GIL_SLICE):
        stop = min(at + GIL_SLICE, count)
        out[at:stop] = np.fromiter(items, dtype, stop - at)
    return out
