"""First-time-only and per-day caps: which of a selection's events count at all.

Behaviour repeats (ten identical e-mail opens in a minute, the same white paper downloaded
every week); peers count such repeats once per day or once ever (Marketo's "once per
day" / "once ever" constraints, HubSpot's score limits). A signal's `per_day` and
`once_per` thin its event selection before any aggregate folds it: an event stays when it
is among the first k by time (ties: the earlier position) of its cell, the cell being
(entity, UTC day) or (entity, property value).

Large selections avoid sorting: only entities with more than k events can lose any, their
cells index per-cell arrays (as distinct_days does), and each of the k rounds picks every
cell's earliest remaining event with two `np.minimum.at` passes. Small selections (and
cells too many to index, or far more cells than events) take one lexsort instead; both
give the same events.
"""

from __future__ import annotations

import numpy as np

from prioscore.server.engine.model import SECONDS_PER_DAY, EventColumns

# Above this many cells (virtual memory for the per-cell arrays) rank by lexsort instead.
DENSE_CELLS = 1 << 27
# ... and above this many cells per event: the rounds write the per-cell arrays at
# scattered places, and each first touch of a page of a fresh array is a page fault
# (with transparent huge pages, a 2 MiB page zeroed, and at times a compaction): a clock
# sweep's chunk, 45k events over 5.7M cells, took 0.7-0.8 s where the lexsort takes 5 ms.
SPARSE_CELLS_PER_EVENT = 64
# Up to this many events one lexsort is cheaper than the per-cell rounds (small batches).
SORT_MAX_EVENTS = 2048


def _first_k_sorted(cell: np.ndarray, ts: np.ndarray, k: int) -> np.ndarray:
    """Mask of the first k events by time within each cell (lexsort; stable on ties)."""
    order = np.lexsort((ts, cell))
    ranked = cell[order]
    start = np.ones(order.size, dtype=bool)
    start[1:] = ranked[1:] != ranked[:-1]
    steps = np.arange(order.size)
    run_start = np.maximum.accumulate(np.where(start, steps, 0))
    keep = np.zeros(order.size, dtype=bool)
    keep[order[(steps - run_start) < k]] = True
    return keep


def _first_k_dense(cell: np.ndarray, ts: np.ndarray, k: int, cells: int) -> np.ndarray:
    """Same mask as _first_k_sorted, by k rounds of per-cell minima. The per-cell arrays
    are np.empty and only the cells in use are written (a scatter per round), so their
    cost follows the events, not the (entity x day) grid."""
    m = cell.size
    keep = np.zeros(m, dtype=bool)
    earliest = np.empty(cells)
    first = np.empty(cells, dtype=np.int64)
    left = np.arange(m)  # positions still in the running
    for _ in range(k):
        c, t = cell[left], ts[left]
        earliest[c] = np.inf
        np.minimum.at(earliest, c, t)
        tied = t == earliest[c]
        first[c] = m
        np.minimum.at(first, c[tied], left[tied])
        keep[first[c]] = True  # each cell's pick (written once per event of the cell)
        left = left[~keep[left]]
        if left.size == 0:
            break
    return keep


def _first_k(entity: np.ndarray, sub: np.ndarray, width: int, ts: np.ndarray, k: int) -> np.ndarray:
    """Mask of the first k events by time per cell (entity, sub), sub in [0, width).

    Only entities with more than k events can lose any, so the cells span just those
    (renumbered densely): light entities, usually most of them, cost one bincount.
    """
    if entity.size <= SORT_MAX_EVENTS:  # a few numpy calls beat the per-cell arrays
        return _first_k_sorted(entity * width + sub, ts, k)
    counts = np.bincount(entity)
    heavy = counts > k
    keep = ~heavy[entity]
    if keep.all():
        return keep
    index = np.flatnonzero(~keep)
    rank = np.cumsum(heavy) - 1  # entity -> its number among the heavy ones
    cell = rank[entity[index]] * width + sub[index]
    cells = int(np.count_nonzero(heavy)) * width
    t = ts[index]
    dense = cells <= DENSE_CELLS and cells <= SPARSE_CELLS_PER_EVENT * index.size
    picked = _first_k_dense(cell, t, k, cells) if dense else _first_k_sorted(cell, t, k)
    keep[index[picked]] = True
    return keep


def thin_repeats(
    events: EventColumns, index: np.ndarray | None, per_day: int, once_per: str
) -> np.ndarray:
    """Positions (ascending) of the events that count: first the first event per (entity,
    value of `once_per`) ever, then at most `per_day` per (entity, UTC day). `index` are
    the selection's positions (None = every event); events without the property share the
    value "" (so they count once between them)."""
    positions = np.arange(len(events)) if index is None else np.asarray(index)
    if positions.size == 0:
        return positions
    entity = events.entity.take(positions)
    ts = events.ts.take(positions)
    if once_per:
        column = events.strings.get(once_per)
        if column is None:
            codes, width = np.zeros(positions.size, dtype=np.int64), 1
        else:
            codes, width = (
                column.codes.take(positions).astype(np.int64) + 1,
                len(column.vocabulary) + 1,
            )
        keep = _first_k(entity, codes, width, ts, 1)
        positions, entity, ts = positions[keep], entity[keep], ts[keep]
    if per_day and positions.size:
        day = np.floor(ts / SECONDS_PER_DAY).astype(np.int64)
        first = int(day.min())
        keep = _first_k(entity, day - first, int(day.max()) - first + 1, ts, per_day)
        positions = positions[keep]
    return positions


__all__ = ["thin_repeats"]
