"""Small batches: every event signal's column folded in a few 2-D numpy calls (Fused).

Scoring one entity folds a handful of events, where numpy's per-call overhead, not the
data, is the cost; this path replaces ~100 small calls with one bincount over (row,
entity) keys. It is taken up to FUSED_MAX_EVENTS events and FUSED_MAX_BINS bins and
must give exactly the bytes of the per-group path (engine.aggregates).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from prioscore.server.engine.aggregates import count_distinct_days, deadline_elapsed
from prioscore.server.engine.feature_plan import feature_plan_of
from prioscore.server.engine.model import (
    DENSITY_PROPERTY,
    SECONDS_PER_DAY,
    Aggregate,
    CategoryRule,
    EventColumns,
    Profile,
)
from prioscore.server.engine.plans import profile_plan
from prioscore.server.engine.selection import Selection
from prioscore.server.engine.steps import MatchFilter, SignalStep

if TYPE_CHECKING:
    from prioscore.server.engine.selection import Selector

# Up to this many events and (row, entity) bins a request takes this path (fused_columns).
FUSED_MAX_EVENTS = 2048
FUSED_MAX_BINS = 1 << 20

# Row kinds of Fused: per-event weight, summed per (row, entity) by one bincount.
_ONES, _VALUE, _DECAY, _VALUE_DECAY, _DENSITY = range(5)


class Fused:
    """Profile-level recipe for folding a small batch in a few 2-D numpy calls.

    With a handful of events per request (scoring one entity) numpy's per-call overhead,
    not the data, is the cost: ~100 calls of ~1 us for ten signals. Here each sum-like
    aggregate is a *row*: (group, per-event weight, extra event mask). All rows' event
    masks form one [rows, events] boolean matrix and all their weights one float matrix;
    one bincount over (row, entity) keys then yields every sum at once. Per key the
    events are added in ascending event order, as each signal's own bincount over its
    ascending selection does, and every weight is computed by the same elementwise
    operations (decay: float64 age times the same scale, exp2 in float32, widened), so
    the matrix is bit-identical to the per-group path. Recency (min/max age) is one
    ufunc.at per kind; distinct_days and deadline_elapsed fold the group's selection.
    """

    def __init__(
        self,
        steps: Sequence[SignalStep],
        groups: Sequence[tuple[str, MatchFilter]],
        categories: Sequence[CategoryRule],
        category_lookups: Mapping[tuple[str, ...], np.ndarray],
        thinning: Sequence[tuple[int, str] | None] = (),
    ) -> None:
        rows: dict[tuple[int, int, float, int], int] = {}  # (group, kind, param, window)

        def row(group: int, kind: int, param: float = 0.0, window: int = 0) -> int:
            return rows.setdefault((group, kind, param, window), len(rows))

        lows: dict[int, int] = {}  # group -> index among the min-age rows
        highs: dict[int, int] = {}
        recipes: list[tuple[Aggregate, int, int, int] | None] = []
        for step in steps:
            agg, g = step.aggregate, step.group
            if agg is None:
                recipes.append(None)
                continue
            count = row(g, _ONES)  # every group's count: missing detection and means
            a = b = -1
            if agg is Aggregate.SUM:
                a = row(g, _VALUE)
            elif agg is Aggregate.DECAYED_COUNT:
                a = row(g, _DECAY, step.param)
            elif agg is Aggregate.DECAYED_SUM:
                a = row(g, _VALUE_DECAY, step.param)
            elif agg is Aggregate.WINDOW_COUNT:
                a = row(g, _ONES, step.param, 1)
            elif agg is Aggregate.WINDOW_SUM:
                a = row(g, _VALUE, step.param, 1)
            elif agg is Aggregate.TREND:
                a, b = row(g, _ONES, step.param, 1), row(g, _ONES, step.param, 2)
            elif agg is Aggregate.DENSITY:
                a = row(g, _DENSITY)
            elif agg is Aggregate.DAYS_SINCE_LAST:
                a = lows.setdefault(g, len(lows))
            elif agg is Aggregate.DAYS_SINCE_FIRST:
                a = highs.setdefault(g, len(highs))
            recipes.append((agg, count, a, b))
        self.recipes = tuple(recipes)
        self.n_rows = len(rows)
        keys = list(rows)
        self.row_group = np.array([k[0] for k in keys], dtype=np.intp)

        def where(test: Callable[[tuple[int, int, float, int]], bool]) -> np.ndarray:
            return np.array([i for i, k in enumerate(keys) if test(k)], dtype=np.intp)

        self.ones = where(lambda k: k[1] == _ONES)
        self.values = where(lambda k: k[1] == _VALUE)
        self.density = where(lambda k: k[1] == _DENSITY)
        half_lives = sorted({k[2] for k in keys if k[1] in (_DECAY, _VALUE_DECAY)})
        self.decay_scales = np.array([-1.0 / (h * SECONDS_PER_DAY) for h in half_lives])[:, None]
        self.decay = where(lambda k: k[1] == _DECAY)
        self.decay_of = np.array([half_lives.index(keys[i][2]) for i in self.decay], dtype=np.intp)
        self.value_decay = where(lambda k: k[1] == _VALUE_DECAY)
        self.value_decay_of = np.array(
            [half_lives.index(keys[i][2]) for i in self.value_decay], dtype=np.intp
        )
        self.recent = where(lambda k: k[3] == 1)
        self.recent_width = np.array([keys[i][2] for i in self.recent])[:, None]
        self.prior = where(lambda k: k[3] == 2)
        self.prior_width = np.array([keys[i][2] for i in self.prior])[:, None]
        self.low_groups = np.array(list(lows), dtype=np.intp)
        self.high_groups = np.array(list(highs), dtype=np.intp)
        # Output: event signals' columns as rows of one [signals, entities] array.
        used = [(j, r) for j, r in enumerate(recipes) if r is not None]
        self.columns = np.array([j for j, _ in used], dtype=np.intp)
        self.all_columns = len(used) == len(recipes)
        self.missing = np.array([steps[j].missing for j, _ in used])[:, None]
        count_rows = sorted({r[1] for _, r in used})
        self.count_rows = np.array(count_rows, dtype=np.intp)
        self.count_of = np.array([count_rows.index(r[1]) for _, r in used], dtype=np.intp)

        def pick(*aggs: Aggregate) -> list[tuple[int, tuple[Aggregate, int, int, int]]]:
            return [(p, r) for p, (_, r) in enumerate(used) if r[0] in aggs]

        def ix(values: list[int]) -> np.ndarray:
            return np.array(values, dtype=np.intp)

        direct = pick(
            Aggregate.COUNT,
            Aggregate.SUM,
            Aggregate.DECAYED_COUNT,
            Aggregate.DECAYED_SUM,
            Aggregate.WINDOW_COUNT,
            Aggregate.WINDOW_SUM,
        )
        self.direct = ix([p for p, _ in direct])
        self.direct_rows = ix([r[2] if r[2] >= 0 else r[1] for _, r in direct])
        exists = pick(Aggregate.EXISTS)
        self.exists, self.exists_rows = ix([p for p, _ in exists]), ix([r[1] for _, r in exists])
        trend = pick(Aggregate.TREND)
        self.trend = ix([p for p, _ in trend])
        self.trend_now, self.trend_before = (
            ix([r[2] for _, r in trend]),
            ix([r[3] for _, r in trend]),
        )
        self.trend_volume = np.array([steps[used[p][0]].volume for p, _ in trend])[:, None]
        density = pick(Aggregate.DENSITY)
        self.density_out = ix([p for p, _ in density])
        self.density_sum = ix([r[2] for _, r in density])
        self.density_count = ix([r[1] for _, r in density])
        last, first = pick(Aggregate.DAYS_SINCE_LAST), pick(Aggregate.DAYS_SINCE_FIRST)
        self.last, self.last_of = ix([p for p, _ in last]), ix([r[2] for _, r in last])
        self.first, self.first_of = ix([p for p, _ in first]), ix([r[2] for _, r in first])
        # Match filters per group; with category rules, the category ones are one table
        # [filters, categories + 1] gathered through the events' categories at once.
        self.matches = tuple((g, k, v) for g, (_, match) in enumerate(groups) for k, v in match)
        on_category = [(g, v) for g, k, v in self.matches if k == "category" and categories]
        self.other_matches = tuple(
            m for m in self.matches if not (m[1] == "category" and categories)
        )
        self.category_groups = np.array([g for g, _ in on_category], dtype=np.intp)
        self.category_table = np.array(
            [category_lookups[v] for _, v in on_category], dtype=bool
        ).reshape(len(on_category), len(categories) + 1)
        # Thinned groups (engine.repeats): once per property value, then per day. Groups
        # thinned one way only share the first ranking (one lexsort): cells of a once_per
        # group by its property's code (k = 1), of a per_day one by the day (k = per_day).
        # A group thinned both ways takes its per-day ranking in a second one.
        thin = [(g, k, once) for g, t in enumerate(thinning) if t is not None for k, once in [t]]
        self.first_groups = np.array([g for g, _, _ in thin], dtype=np.intp)
        self.first_cells = tuple(once or None for _, _, once in thin)  # None: by day
        self.first_limits = np.array([1 if once else k for _, k, once in thin], dtype=np.intp)
        self.then_groups = np.array([g for g, k, once in thin if k and once], dtype=np.intp)
        self.then_limits = np.array([k for _, k, once in thin if k and once], dtype=np.intp)
        self.thin_by_day = None in self.first_cells or bool(self.then_groups.size)
        # Folded from the group's selection, as the per-group path does (one column each).
        self.per_group = tuple(
            (p, steps[j].group, r[0])
            for p, (j, r) in enumerate(used)
            if r[0] in (Aggregate.DISTINCT_DAYS, Aggregate.DEADLINE_ELAPSED)
        )


def _group_masks(selector: Selector, fused: Fused) -> np.ndarray | None:
    """[groups, events] bool: the non-future events each group selects (None when an
    event name has several codes: the per-group path handles that)."""
    events, plan = selector.events, selector.plan
    codes: dict[str, list[int]] = {}
    for i, name in enumerate(events.event_types):
        codes.setdefault(name, []).append(i)
    group_code = []
    absent = []
    for g, (event, _) in enumerate(plan.groups):
        found = codes.get(event, ())
        if len(found) > 1:
            return None
        group_code.append(found[0] if found else 0)
        if not found:
            absent.append(g)
    masks = np.equal(events.event_type, np.array(group_code)[:, None])
    if absent:
        masks[absent] = False
    masks &= selector.valid
    matches = fused.matches
    if fused.category_groups.size:  # every category filter in one gather (profile rules)
        masks[fused.category_groups] &= fused.category_table[:, selector.categories]
        matches = fused.other_matches
    for g, prop, values in matches:
        lookup, value_codes = selector._match_lookup(prop, values)
        masks[g] &= lookup[value_codes]
    if fused.first_groups.size:
        day = np.floor(events.ts / SECONDS_PER_DAY).astype(np.int64) if fused.thin_by_day else None
        cells = np.zeros((len(fused.first_cells), len(events)), dtype=np.int64)
        for row, by in enumerate(fused.first_cells):
            column = day if by is None else events.strings.get(by)
            if column is not None:  # an absent property: every event shares one value
                cells[row] = column if isinstance(column, np.ndarray) else column.codes
        _first_in_cells(masks, fused.first_groups, cells, events, fused.first_limits)
        if day is not None and fused.then_groups.size:
            _first_in_cells(masks, fused.then_groups, day[None, :], events, fused.then_limits)
    return masks


def _first_in_cells(
    masks: np.ndarray,
    groups: np.ndarray,
    cells: np.ndarray,
    events: EventColumns,
    limits: np.ndarray,
) -> None:
    """Clears, in masks[groups], every selected event past the first limits[i] by time
    (ties: the earlier event) of its cell (group, entity, cells[i or 0][event]): the
    events thin_repeats keeps, for every group at once. One stable lexsort orders the
    selected (group, event) pairs by cell and time; runs of a cell are ranked in place."""
    row, event = masks[groups].nonzero()
    if not row.size:
        return
    cell = cells[row if cells.shape[0] > 1 else 0, event]
    entity = events.entity.take(event)
    order = np.lexsort((events.ts.take(event), cell, entity, row))
    row, event, cell, entity = row[order], event[order], cell[order], entity[order]
    start = np.ones(row.size, dtype=bool)
    start[1:] = (row[1:] != row[:-1]) | (entity[1:] != entity[:-1]) | (cell[1:] != cell[:-1])
    steps = np.arange(row.size)
    rank = steps - np.maximum.accumulate(np.where(start, steps, 0))
    late = rank >= limits[row if limits.size > 1 else 0]
    masks[groups[row[late]], event[late]] = False


def _build_fused(profile: Profile) -> Fused:
    plan = feature_plan_of(profile)
    return Fused(plan.steps, plan.groups, plan.categories, plan.category_lookups, plan.thinning)


def fused_plan_of(profile: Profile) -> Fused:
    """The profile's small-batch recipe, built once per Profile object (engine.plans)."""
    return profile_plan(profile, "fused", _build_fused)


def fused_columns(
    fused: Fused, selector: Selector, steps: Sequence[SignalStep], matrix: np.ndarray
) -> bool:
    """Writes every event signal's column of `matrix` (False: not applicable - too many
    events or bins, or an event name with several codes - and `matrix` is untouched)."""
    events, n = selector.events, selector.n_entities
    if len(events) > FUSED_MAX_EVENTS or fused.n_rows * n > FUSED_MAX_BINS:
        return False
    masks = _group_masks(selector, fused)
    if masks is None:
        return False
    age = np.subtract(selector.cut, events.ts)
    m = age.shape[0]
    keep = masks[fused.row_group]
    if fused.recent.size:
        keep[fused.recent] &= age < fused.recent_width
    if fused.prior.size:
        recent = age < fused.prior_width
        keep[fused.prior] &= ~recent & (age < 2.0 * fused.prior_width)
    weight = np.empty((fused.n_rows, m))
    weight[fused.ones] = 1.0
    value = np.asarray(events.value, dtype=np.float64)
    if fused.values.size:
        weight[fused.values] = value
    if fused.decay_scales.size:
        f32 = np.empty((fused.decay_scales.shape[0], m), dtype=np.float32)
        np.multiply(age, fused.decay_scales, out=f32, casting="same_kind")
        np.exp2(f32, out=f32)
        decay = f32.astype(np.float64)
        if fused.decay.size:
            weight[fused.decay] = decay[fused.decay_of]
        if fused.value_decay.size:
            weight[fused.value_decay] = value * decay[fused.value_decay_of]
    if fused.density.size:
        density = value
        clicks = events.numbers.get(DENSITY_PROPERTY)
        if clicks is not None:
            c = np.asarray(clicks, dtype=np.float64)
            density = value * np.where(np.isnan(c), 1.0, c)
        weight[fused.density] = density
    row, event = keep.nonzero()
    entity = events.entity.take(event)
    sums = np.bincount(row * n + entity, weight[row, event], minlength=fused.n_rows * n)
    sums = sums.reshape(fused.n_rows, n)
    values = np.empty((fused.columns.size, n))
    if fused.direct.size:
        values[fused.direct] = sums[fused.direct_rows]
    if fused.exists.size:
        values[fused.exists] = sums[fused.exists_rows] > 0
    if fused.trend.size:
        now, before = sums[fused.trend_now], sums[fused.trend_before]
        values[fused.trend] = np.where(
            now + before < fused.trend_volume, 0.0, (now - before) / (before + 1.0)
        )
    if fused.density_out.size:
        with np.errstate(invalid="ignore", divide="ignore"):
            values[fused.density_out] = sums[fused.density_sum] / sums[fused.density_count]
    if fused.last.size:
        low = _extreme(np.minimum, np.inf, masks[fused.low_groups], events.entity, age, n)
        values[fused.last] = low[fused.last_of] / SECONDS_PER_DAY
    if fused.first.size:
        high = _extreme(np.maximum, -np.inf, masks[fused.high_groups], events.entity, age, n)
        values[fused.first] = high[fused.first_of] / SECONDS_PER_DAY
    for p, group, agg in fused.per_group:
        selected = Selection(events, masks[group].nonzero()[0], selector.cut, n)
        fold = count_distinct_days if agg is Aggregate.DISTINCT_DAYS else deadline_elapsed
        values[p] = fold(selected)
    empty = sums[fused.count_rows] == 0
    if np.count_nonzero(empty):
        values = np.where(empty[fused.count_of], fused.missing, values)
    if fused.all_columns:
        np.copyto(matrix, values.T)
    else:
        matrix[:, fused.columns] = values.T
    return True


def _extreme(
    fold: np.ufunc, start: float, masks: np.ndarray, entity_of: np.ndarray, age: np.ndarray, n: int
) -> np.ndarray:
    """fold.at of the selected events' ages per (group row, entity), `start` where none."""
    row, event = masks.nonzero()
    out = np.empty(masks.shape[0] * n)
    out.fill(start)
    fold.at(out, row * n + entity_of.take(event), age.take(event))
    return out.reshape(masks.shape[0], n)
