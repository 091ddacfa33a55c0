"""First-time-only and per-day caps: which of a selection's events count at all.

Behaviour repeats (ten identical e-mail opens in a minute, the same white paper downloaded
every week); peers count such repeats once per day or once ever (Marketo's "once per
day" / "once ever" constraints, HubSpot's score limits). A signal's `per_day` and
`once_per` thin its event selection before any aggregate folds it. One lexsort per thinned
group and request, no per-event Python: the rank of an event inside its (entity, day) or
(entity, value) run decides whether it stays.
"""

from __future__ import annotations

import numpy as np

from prioscore.server.engine.model import SECONDS_PER_DAY, EventColumns


def _first_k(positions: np.ndarray, keys: list[np.ndarray], ts: np.ndarray, k: int) -> np.ndarray:
    """Positions (ascending) of the first k events by time within each run of equal keys."""
    order = np.lexsort((ts, *reversed(keys)))  # primary key first; stable on ties
    sorted_keys = [key[order] for key in keys]
    same = np.ones(order.size, dtype=bool)  # same keys as the event before it
    same[0] = False
    for key in sorted_keys:
        same[1:] &= key[1:] == key[:-1]
    start = ~same
    steps = np.arange(order.size)
    run_start = np.maximum.accumulate(np.where(start, steps, 0))
    kept = order[(steps - run_start) < k]
    return np.sort(positions[kept])


def thin_repeats(
    events: EventColumns, index: np.ndarray | None, per_day: int, once_per: str
) -> np.ndarray:
    """Positions of the events that count: first the first event per (entity, value of
    `once_per`) ever, then at most `per_day` per (entity, UTC day). `index` are the
    selection's positions (None = every event); events without the property share the
    value "" (so they count once between them)."""
    positions = np.arange(len(events)) if index is None else np.asarray(index)
    if positions.size == 0:
        return positions
    if once_per:
        column = events.strings.get(once_per)
        codes = (
            np.full(positions.size, -1, dtype=np.int32)
            if column is None
            else column.codes.take(positions)
        )
        entity = events.entity.take(positions)
        positions = _first_k(positions, [entity, codes], events.ts.take(positions), 1)
    if per_day:
        ts = events.ts.take(positions)
        day = np.floor(ts / SECONDS_PER_DAY).astype(np.int64)
        entity = events.entity.take(positions)
        positions = _first_k(positions, [entity, day], ts, per_day)
    return positions


__all__ = ["thin_repeats"]
