"""Per-group folds: one feature column per signal from its group's event selection.

Per-entity folding uses `np.bincount` for sums and counts, and `np.minimum.at` /
`np.maximum.at` for recency: since numpy 1.25 those have a fast path for 1-D float
arrays with intp indices and measure the same as a weighted bincount here (~35 ms for
10M events into 1M bins), so they beat any sort-based alternative (a 10M argsort is ~1 s).
This is the general path; small batches take engine.small_batch, which must stay
bit-identical to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from prioscore.server.engine.model import DENSITY_PROPERTY, SECONDS_PER_DAY, Aggregate

if TYPE_CHECKING:
    from prioscore.server.engine.selection import Selection
    from prioscore.server.engine.steps import SignalStep

# deadline_elapsed: an event allows at least this long (a target of 0 is a minute).
MIN_DEADLINE_SECONDS = 60.0
# Above this many (entity, day) cells distinct_days falls back from a dense bitmap to np.unique.
DENSE_DAY_CELLS = 1 << 26


def fold_signal(step: SignalStep, sel: Selection, numbers: Mapping[str, np.ndarray]) -> np.ndarray:
    """One feature column (float64 [n_entities]); rows without events are fixed up later."""
    agg = step.aggregate
    n = sel.n_entities
    if agg is Aggregate.COUNT:
        return sel.counts.astype(np.float64)
    if agg is Aggregate.EXISTS:
        return (sel.counts > 0).astype(np.float64)
    if agg is Aggregate.SUM:
        return sel.total(sel.value)
    if agg is Aggregate.DECAYED_COUNT:
        return sel.total(sel.decay(step.param))
    if agg is Aggregate.DECAYED_SUM:
        decay = sel.decay(step.param)
        return sel.total(np.multiply(sel.value, decay, out=decay))
    if agg is Aggregate.WINDOW_COUNT or agg is Aggregate.WINDOW_SUM or agg is Aggregate.TREND:
        width = step.param
        recent = sel.age < width  # ts in (as_of - width, as_of]; future events are gone
        if agg is Aggregate.WINDOW_COUNT:
            return sel.total(mask=recent)
        if agg is Aggregate.WINDOW_SUM:
            return sel.total(sel.value, mask=recent)
        prior = ~recent & (sel.age < 2.0 * width)
        now, before = sel.total(mask=recent), sel.total(mask=prior)
        trend = (now - before) / (before + 1.0)
        if step.volume:
            trend[now + before < step.volume] = 0.0
        return trend
    if agg is Aggregate.DAYS_SINCE_LAST:
        out = np.empty(n)
        out.fill(np.inf)
        np.minimum.at(out, sel.entity, sel.age)
        return out / SECONDS_PER_DAY
    if agg is Aggregate.DAYS_SINCE_FIRST:
        out = np.empty(n)
        out.fill(-np.inf)
        np.maximum.at(out, sel.entity, sel.age)
        return out / SECONDS_PER_DAY
    if agg is Aggregate.DISTINCT_DAYS:
        return count_distinct_days(sel)
    if agg is Aggregate.DEADLINE_ELAPSED:
        return deadline_elapsed(sel)
    # Aggregate.DENSITY (the plan admits nothing else)
    clicks = numbers.get(DENSITY_PROPERTY)
    weight = sel.value
    if clicks is not None:
        c = np.asarray(sel.gather(np.asarray(clicks)), dtype=np.float64)
        weight = weight * np.where(np.isnan(c), 1.0, c)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sel.total(weight) / sel.counts


def deadline_elapsed(sel: Selection) -> np.ndarray:
    """Largest age / allowed time per entity (value in days, at least a minute, so a
    target of 0 reads as long breached yet stays finite for reasons and JSON)."""
    share = sel.age / np.maximum(sel.value * SECONDS_PER_DAY, MIN_DEADLINE_SECONDS)
    out = np.empty(sel.n_entities)
    out.fill(-np.inf)
    with np.errstate(invalid="ignore"):  # a NaN value stays NaN, as sum aggregates keep it
        np.maximum.at(out, sel.entity, share)
    return out


def count_distinct_days(sel: Selection) -> np.ndarray:
    """Distinct UTC days per entity: a dense (entity, day) bitmap when small, else np.unique."""
    n = sel.n_entities
    if sel.entity.size == 0:
        return np.zeros(n)
    day = np.floor(sel.gather(sel.events.ts) / SECONDS_PER_DAY).astype(np.int64)
    first = int(day.min())
    span = int(day.max()) - first + 1
    cell = sel.entity * span + (day - first)
    if n * span <= DENSE_DAY_CELLS:
        seen = np.zeros(n * span, dtype=bool)
        seen[cell] = True
        owners = np.flatnonzero(seen) // span
    else:
        owners = np.unique(cell) // span
    return np.bincount(owners, minlength=n).astype(np.float64)
