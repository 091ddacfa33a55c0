"""Top-K and paging over scores without sorting the whole population.

Order is descending score, ties broken by ascending entity index, so a page boundary is
stable between calls and page n+1 starts exactly where page n ended. A selection pass
(np.partition) finds the score at the last requested rank; everything strictly above it
plus the lowest-index ties at it are the answer, and only those few are sorted.
"""

from __future__ import annotations

import numpy as np


def _candidates(
    score: np.ndarray, eligible: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(scores to rank, their entity indices or None when every entity takes part).

    NaN scores rank last (they become -inf) so a broken row can never take a top slot.
    """
    s = np.asarray(score, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"score must be 1-D, got shape {s.shape}")
    index = None
    if eligible is not None:
        index = np.flatnonzero(np.asarray(eligible, dtype=bool))
        s = s[index]
    if np.isnan(s).any():
        s = np.where(np.isnan(s), -np.inf, s)
    return s, index


def top_k(
    score: np.ndarray,
    k: int,
    *,
    eligible: np.ndarray | None = None,
    offset: int = 0,
) -> np.ndarray:
    """Entity indices (int64) at ranks offset .. offset+k-1, best first.

    `eligible` (bool [n]) restricts the ranking; ranks count eligible entities only.
    Returns fewer than k indices at the end of the population, none past it.
    """
    if k < 0 or offset < 0:
        raise ValueError("k and offset must be >= 0")
    s, index = _candidates(score, eligible)
    n = s.shape[0]
    m = min(offset + k, n)  # ranks [0, m) are needed to know ranks [offset, m)
    if m <= offset:
        return np.empty(0, dtype=np.int64)
    pivot = s[np.argpartition(s, n - m)[n - m]] if m < n else s.min()
    above = np.flatnonzero(s > pivot)
    ties = np.flatnonzero(s == pivot)[: m - above.size]  # ascending index: the tie-break
    chosen = np.concatenate([above, ties])
    # lexsort: last key is primary -> descending score, then ascending position.
    chosen = chosen[np.lexsort((chosen, -s[chosen]))][offset:m]
    return (chosen if index is None else index[chosen]).astype(np.int64, copy=False)
