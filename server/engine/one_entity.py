"""One entity's features in plain Python over its few events (OnePlan, one_entity_columns).

Scoring one entity (a unary ScoreEntities, the writer rescoring the one entity an event
touched) folds a few dozen events, and numpy's per-call cost is then all of it: even
the fused path (engine.small_batch) makes ~80 numpy calls of ~1 us for ten signals.
Here the events become Python lists once (a dozen `tolist` calls) and each group's
selection, thinning and fold is Python over those few values; only the decay weights
go through numpy, by the very float32 exp2 calls of the other paths. It is taken up to
ONE_ENTITY_MAX_EVENTS events (measured faster below that) and gives exactly the bytes
of the per-group path (tests/engine/test_features.py): every sum adds its terms in
ascending event order starting from 0.0, as bincount does, and every other number comes
from the same IEEE operations on the same float64 values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce
from operator import add
from typing import TYPE_CHECKING

import numpy as np

from prioscore.server.engine.aggregates import MIN_DEADLINE_SECONDS
from prioscore.server.engine.feature_plan import FeaturePlan, feature_plan_of
from prioscore.server.engine.model import DENSITY_PROPERTY, SECONDS_PER_DAY, Aggregate, Profile
from prioscore.server.engine.plans import profile_plan

if TYPE_CHECKING:
    from prioscore.server.engine.selection import Selector

# Up to this many events one entity takes this path (above it the numpy paths win).
ONE_ENTITY_MAX_EVENTS = 128
# Event-name tuples whose group codes a plan keeps (requests name their own events).
_CODES_KEPT = 64

_DECAYED = (Aggregate.DECAYED_COUNT, Aggregate.DECAYED_SUM)


class OnePlan:
    """What the one-entity path derives from the profile alone, once per Profile object:
    each event signal's (column, aggregate, group, parameter, half-life row, missing,
    volume) and the half-lives' decay scales."""

    def __init__(self, plan: FeaturePlan) -> None:
        self.groups = plan.groups
        self.thinning = plan.thinning
        half_lives = sorted({s.param for s in plan.steps if s.aggregate in _DECAYED})
        # [half-lives, 1], as small_batch.Fused: the same multiply, the same exp2.
        self.decay_scales = np.array([-1.0 / (h * SECONDS_PER_DAY) for h in half_lives])[:, None]
        self.steps = tuple(
            (
                j,
                s.aggregate,
                s.group,
                s.param,
                half_lives.index(s.param) if s.aggregate in _DECAYED else -1,
                s.missing,
                s.volume,
            )
            for j, s in enumerate(plan.steps)
            if s.aggregate is not None
        )
        self.used_groups = tuple(sorted({s[2] for s in self.steps}))
        # UTC days are read by distinct_days and per-day thinning only.
        thinned = [t for t in (self.thinning[g] for g in self.used_groups) if t is not None]
        self.needs_days = any(s[1] is Aggregate.DISTINCT_DAYS for s in self.steps) or any(
            per_day for per_day, _ in thinned
        )
        self._codes: dict[tuple[str, ...], tuple[int, ...] | None] = {}

    def group_codes(self, event_types: tuple[str, ...]) -> tuple[int, ...] | None:
        """Each group's event-type code (-1: the name is absent), or None when a name has
        several codes (the numpy paths handle that)."""
        codes = self._codes.get(event_types)
        if codes is None and event_types not in self._codes:
            found: dict[str, list[int]] = {}
            for i, name in enumerate(event_types):
                found.setdefault(name, []).append(i)
            picked = [found.get(event, [-1]) for event, _ in self.groups]
            codes = None if any(len(c) > 1 for c in picked) else tuple(c[0] for c in picked)
            if len(self._codes) >= _CODES_KEPT:
                self._codes.clear()
            self._codes[event_types] = codes
        return codes


def one_plan_of(profile: Profile) -> OnePlan:
    """The profile's one-entity recipe, built once per Profile object (engine.plans)."""
    return profile_plan(profile, "one_entity", lambda p: OnePlan(feature_plan_of(p)))


def one_entity_columns(one: OnePlan, selector: Selector, matrix: np.ndarray) -> bool:
    """Writes every event signal's column of the one-row `matrix` (False: not applicable
    - more than one entity or ONE_ENTITY_MAX_EVENTS events, or an event name with several
    codes - and `matrix` is untouched)."""
    events = selector.events
    m = len(events)
    if selector.n_entities != 1 or m > ONE_ENTITY_MAX_EVENTS:
        return False
    codes = one.group_codes(events.event_types)
    if codes is None:
        return False
    row = matrix[0]
    if not m:
        for j, _, _, _, _, missing, _ in one.steps:
            row[j] = missing
        return True
    # One entity: an as_of per entity is one cut for every event.
    cut = selector.cut if isinstance(selector.cut, float) else float(selector.cut[0])
    ts = events.ts.tolist()
    if not all(map(math.isfinite, ts)):  # (never stored) the numpy paths say what it means
        return False
    age_column = np.subtract(cut, events.ts)
    age = age_column.tolist()
    by_type: dict[int, list[int]] = {}
    for i, (code, t) in enumerate(zip(events.event_type.tolist(), ts, strict=True)):
        if t <= cut:  # no leakage: future events never count
            by_type.setdefault(code, []).append(i)
    days = [math.floor(t / SECONDS_PER_DAY) for t in ts] if one.needs_days else []
    selected = _selections(one, selector, codes, by_type, ts, days)
    value = np.asarray(events.value, dtype=np.float64).tolist()
    decay: list[list[float]] = []
    if one.decay_scales.size:
        f32 = np.empty((one.decay_scales.shape[0], m), dtype=np.float32)
        np.multiply(age_column, one.decay_scales, out=f32, casting="same_kind")
        np.exp2(f32, out=f32)
        decay = f32.astype(np.float64).tolist()
    clicks = events.numbers.get(DENSITY_PROPERTY)
    density = value
    if clicks is not None:
        density = [
            v * (1.0 if c != c else c)  # NaN clicks count as 1
            for v, c in zip(value, np.asarray(clicks, dtype=np.float64).tolist(), strict=True)
        ]
    for j, agg, group, param, h, missing, volume in one.steps:
        sel = selected[group]
        row[j] = (
            _fold(agg, sel, param, volume, age, value, density, decay[h] if h >= 0 else [], days)
            if sel
            else missing
        )
    return True


def _selections(
    one: OnePlan,
    selector: Selector,
    codes: tuple[int, ...],
    by_type: dict[int, list[int]],
    ts: list[float],
    days: list[int],
) -> dict[int, list[int]]:
    """Positions (ascending) of each used group's events: its type, not in the future,
    every match filter, then thinned (engine.repeats)."""
    lookups: dict[tuple[str, tuple[str, ...]], tuple[list[bool], list[int]]] = {}
    selected: dict[int, list[int]] = {}
    events = selector.events
    for g in one.used_groups:
        match = one.groups[g][1]
        index = by_type.get(codes[g], []) if codes[g] >= 0 else []
        for prop, values in match:
            if not index:
                break
            pair = lookups.get((prop, values))
            if pair is None:
                lookup, value_codes = selector._match_lookup(prop, values)
                pair = lookups[(prop, values)] = (lookup.tolist(), value_codes.tolist())
            allowed, of = pair
            index = [i for i in index if allowed[of[i]]]
        thinning = one.thinning[g]
        if thinning is not None and index:
            per_day, once_per = thinning
            if once_per:
                column = events.strings.get(once_per)
                cells: Sequence[int] = [0] * len(ts) if column is None else column.codes.tolist()
                index = _first_per_cell(index, ts, cells, 1)
            if per_day and index:
                index = _first_per_cell(index, ts, days, per_day)
        selected[g] = index
    return selected


def _first_per_cell(index: list[int], ts: list[float], cells: Sequence[int], k: int) -> list[int]:
    """The positions among `index` that are among the first k by time (ties: the
    earlier position) of their cell, ascending: thin_repeats for one entity."""
    taken: dict[int, int] = {}
    kept = []
    for i in sorted(index, key=ts.__getitem__):  # a stable sort: positions on ties
        seen = taken.get(cells[i], 0)
        if seen < k:
            taken[cells[i]] = seen + 1
            kept.append(i)
    kept.sort()
    return kept


def _fold(
    agg: Aggregate,
    sel: list[int],
    param: float,
    volume: float,
    age: list[float],
    value: list[float],
    density: list[float],
    decay: list[float],
    days: list[int],
) -> float:
    """One signal's feature from its (non-empty) selection; the per-group path's numbers
    (engine.aggregates.fold_signal)."""
    if agg is Aggregate.COUNT:
        return float(len(sel))
    if agg is Aggregate.EXISTS:
        return 1.0
    if agg is Aggregate.SUM:
        return reduce(add, map(value.__getitem__, sel), 0.0)
    if agg is Aggregate.DECAYED_COUNT:
        return reduce(add, map(decay.__getitem__, sel), 0.0)
    if agg is Aggregate.DECAYED_SUM:
        return reduce(add, [value[i] * decay[i] for i in sel], 0.0)
    if agg is Aggregate.WINDOW_COUNT:
        return float(sum(1 for i in sel if age[i] < param))
    if agg is Aggregate.WINDOW_SUM:
        return reduce(add, [value[i] for i in sel if age[i] < param], 0.0)
    if agg is Aggregate.TREND:
        now = sum(1 for i in sel if age[i] < param)
        before = sum(1 for i in sel if not age[i] < param and age[i] < 2.0 * param)
        return 0.0 if now + before < volume else (now - before) / (before + 1.0)
    if agg is Aggregate.DENSITY:
        return reduce(add, map(density.__getitem__, sel), 0.0) / len(sel)
    if agg is Aggregate.DAYS_SINCE_LAST:
        return min(map(age.__getitem__, sel)) / SECONDS_PER_DAY
    if agg is Aggregate.DAYS_SINCE_FIRST:
        return max(map(age.__getitem__, sel)) / SECONDS_PER_DAY
    if agg is Aggregate.DISTINCT_DAYS:
        return float(len({days[i] for i in sel}))
    # Aggregate.DEADLINE_ELAPSED (the plan admits nothing else): np.maximum semantics,
    # a NaN value (or allowance) makes the whole fold NaN.
    best = -math.inf
    for i in sel:
        allowed = value[i] * SECONDS_PER_DAY
        if allowed < MIN_DEADLINE_SECONDS:
            allowed = MIN_DEADLINE_SECONDS
        share = age[i] / allowed
        if share != share:
            return math.nan
        if share > best:
            best = share
    return best


__all__ = ["ONE_ENTITY_MAX_EVENTS", "OnePlan", "one_entity_columns", "one_plan_of"]
