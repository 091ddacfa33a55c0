"""Events -> feature matrix: one column per profile signal, one row per entity.

Everything is columnar. String matching (categories, `match` filters) runs once per
*vocabulary string* and is then gathered through the integer codes, so a million events
over a few thousand URLs cost a few thousand `str` operations plus one array gather.
Per-entity folding uses `np.bincount` for sums and counts, and `np.minimum.at` /
`np.maximum.at` for recency: since numpy 1.25 those have a fast path for 1-D float
arrays with intp indices and measure the same as a weighted bincount here (~35 ms for
10M events into 1M bins), so they beat any sort-based alternative (a 10M argsort is ~1 s).

Events that share an event type and `match` filter are selected once and the selection
(entity, timestamp, value, age) is shared by every signal that uses it, so a profile with
three half-lives over page views pays for one filter, one age computation and one count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from prioscore.server.engine.model import (
    SECONDS_PER_DAY,
    Aggregate,
    CategoryRule,
    EventColumns,
    FeatureSet,
    Profile,
    Signal,
)
from prioscore.server.engine.plans import profile_plan

# Above this many (entity, day) cells distinct_days falls back from a dense bitmap to np.unique.
_DENSE_DAY_CELLS = 1 << 26


def _rule_matches(rule: CategoryRule, text: str) -> bool:
    """One rule against one vocabulary string (called once per unique string, not per event)."""
    return (
        text in rule.equals
        or (bool(rule.prefixes) and text.startswith(rule.prefixes))
        or any(part in text for part in rule.contains)
    )


def assign_categories(rules: Sequence[CategoryRule], events: EventColumns) -> np.ndarray:
    """Index of the first rule each event matches, -1 if none (int32 [n_events]).

    Rules are grouped by the property they read; for each property the first matching
    rule is decided per vocabulary string and gathered through the codes. Missing values
    (code -1) land on an appended -1 sentinel, so the gather needs no masking. A rule
    whose property the events do not carry matches nothing.
    """
    by_property: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        by_property.setdefault(rule.property, []).append(i)
    return _assign(rules, tuple((p, tuple(ix)) for p, ix in by_property.items()), events)


def _assign(
    rules: Sequence[CategoryRule],
    by_property: Sequence[tuple[str, tuple[int, ...]]],
    events: EventColumns,
    cache: _VocabCache | None = None,
) -> np.ndarray:
    """assign_categories with the rules already grouped by property (in first-rule order);
    `cache` keeps the per-vocabulary lookups of small vocabularies across requests."""
    n = len(events)
    result: np.ndarray | None = None
    for prop, indices in by_property:
        column = events.strings.get(prop)
        if column is None:
            continue
        vocabulary = column.vocabulary
        lookup = None if cache is None else cache.get(("rules", prop, vocabulary))
        if lookup is None:
            lookup = np.full(len(vocabulary) + 1, -1, dtype=np.int32)
            for v, text in enumerate(vocabulary):
                for i in indices:
                    if _rule_matches(rules[i], text):
                        lookup[v] = i
                        break
            if cache is not None:
                cache.put(("rules", prop, vocabulary), lookup)
        gathered = lookup[column.codes]
        if result is None:
            result = gathered
        else:
            # Several properties: the earliest rule over all of them wins.
            both = (result >= 0) & (gathered >= 0)
            result = np.where(both, np.minimum(result, gathered), np.maximum(result, gathered))
    if result is None:
        return np.full(n, -1, dtype=np.int32)
    return result.astype(np.int32, copy=False)


_Match = tuple[tuple[str, tuple[str, ...]], ...]  # a signal's match filter, sorted

# Up to this many events, the type of every event is sorted once per request and each
# event type's positions are a slice of that order (~8 numpy calls for all types instead
# of ~4 per type); above it one mask per type is cheaper than the sort.
_SORTED_TYPES_MAX_EVENTS = 4096


# ("rules", property, vocabulary) -> category index per string (int32, -1 = none);
# ("match", (key, values), vocabulary) -> string allowed by a match filter (bool).
_VocabKey = tuple[str, object, tuple[str, ...]]


class _VocabCache:
    """Lookup arrays per (kind, what, vocabulary) for small vocabularies: a request's
    vocabulary is a fresh tuple (store.load_events and inline events build it per call),
    but usually equal to an earlier one, so the per-string Python work (category rules,
    match filters) runs once per distinct vocabulary. Bounded: cleared when full. The
    arrays are read-only; concurrent requests may at worst compute one twice."""

    MAX_VOCABULARY = 256
    MAX_ENTRIES = 256

    def __init__(self) -> None:
        self._lookups: dict[_VocabKey, np.ndarray] = {}

    def get(self, key: _VocabKey) -> np.ndarray | None:
        if len(key[2]) > self.MAX_VOCABULARY:
            return None
        return self._lookups.get(key)

    def put(self, key: _VocabKey, lookup: np.ndarray) -> None:
        if len(key[2]) > self.MAX_VOCABULARY:
            return
        if len(self._lookups) >= self.MAX_ENTRIES:
            self._lookups = {}
        lookup.setflags(write=False)
        self._lookups[key] = lookup


class _Step(NamedTuple):
    """One signal's work, decided from the profile once (see _FeaturePlan)."""

    aggregate: Aggregate | None  # None: a score signal, filled by the caller
    group: int  # index into _FeaturePlan.groups (-1 for score signals)
    param: float  # decayed: half-life in days; windowed: window width in seconds
    missing: float


class _FeaturePlan:
    """Everything compute_features derives from the profile alone, built once per Profile
    object (engine.plans): validated aggregates and parameters, the (event type, match)
    groups that share a selection, category lookups per match and the rules per
    property. It holds no reference to the Profile (the cache entry must not keep it
    alive)."""

    def __init__(self, profile: Profile) -> None:
        rules = profile.categories
        self.categories = rules
        by_property: dict[str, list[int]] = {}
        for i, rule in enumerate(rules):
            by_property.setdefault(rule.property, []).append(i)
        self.rules_by_property = tuple((p, tuple(ix)) for p, ix in by_property.items())
        self.eliminatory = tuple(i for i, r in enumerate(rules) if r.eliminatory)
        self.eliminatory_lookup = np.zeros(len(rules) + 1, dtype=bool)
        self.eliminatory_lookup[list(self.eliminatory)] = True
        groups: dict[tuple[str, _Match], int] = {}
        self.category_lookups: dict[tuple[str, ...], np.ndarray] = {}
        steps = []
        for signal in profile.signals:
            if signal.reads_scores:
                steps.append(_Step(None, -1, 0.0, float(signal.missing)))
                continue
            agg = Aggregate(signal.aggregate)
            param = 0.0
            if agg in (Aggregate.DECAYED_COUNT, Aggregate.DECAYED_SUM):
                param = _require(signal.half_life_days, "half_life_days", signal)
            elif agg in (Aggregate.WINDOW_COUNT, Aggregate.WINDOW_SUM, Aggregate.TREND):
                param = _require(signal.window_days, "window_days", signal) * SECONDS_PER_DAY
            elif agg not in _EVENT_AGGREGATES:
                raise ValueError(f"signal {signal.name!r}: unknown aggregate {signal.aggregate!r}")
            match = tuple(sorted((k, tuple(sorted(v))) for k, v in signal.match.items()))
            for key, values in match:
                if key == "category" and values not in self.category_lookups:
                    names = set(values)
                    lookup = np.zeros(len(rules) + 1, dtype=bool)
                    lookup[:-1] = [rule.name in names for rule in rules]
                    self.category_lookups[values] = lookup
            group = groups.setdefault((signal.event, match), len(groups))
            steps.append(_Step(agg, group, param, float(signal.missing)))
        self.steps = tuple(steps)
        self.groups = tuple(groups)
        self.vocabularies = _VocabCache()
        self.fused = _Fused(self.steps, self.groups, rules, self.category_lookups)


def _feature_plan(profile: Profile) -> _FeaturePlan:
    return profile_plan(profile, "features", _FeaturePlan)


class _Selection:
    """The events one group of signals folds, gathered lazily and at most once.

    `age` is as_of - ts in seconds (float64 so window edges are exact); `counts` is the
    number of selected events per entity, shared by every aggregate that needs it
    (missing detection, means). Columns a profile never reads (values for pure counts,
    timestamps except for distinct_days) are never gathered, and the decay buffers are
    reused across half-lives: fewer 50 MB temporaries, fewer page faults. (Plain lazy
    attributes, not functools.cached_property: that takes a lock per access on 3.11.)
    """

    def __init__(
        self, events: EventColumns, index: np.ndarray | None, cut: float | np.ndarray, n: int
    ) -> None:
        self.events = events
        self.index = index  # positions in the full event arrays; None = all events
        self.cut = cut if isinstance(cut, float) or index is None else cut[index]
        self.n_entities = n
        self._entity: np.ndarray | None = None
        self._value: np.ndarray | None = None
        self._age: np.ndarray | None = None
        self._counts: np.ndarray | None = None
        self._empty: np.ndarray | None = None
        self._f32: np.ndarray | None = None
        self._f64: np.ndarray | None = None

    def gather(self, column: np.ndarray) -> np.ndarray:
        return column if self.index is None else column.take(self.index)

    @property
    def entity(self) -> np.ndarray:
        if self._entity is None:
            self._entity = self.gather(self.events.entity)
        return self._entity

    @property
    def value(self) -> np.ndarray:
        if self._value is None:
            self._value = np.asarray(self.gather(self.events.value), dtype=np.float64)
        return self._value

    @property
    def age(self) -> np.ndarray:
        if self._age is None:
            if self.index is None:
                self._age = np.subtract(self.cut, self.events.ts)
            else:
                age = self.events.ts.take(self.index)
                self._age = np.subtract(self.cut, age, out=age)
        return self._age

    @property
    def counts(self) -> np.ndarray:
        if self._counts is None:
            self._counts = np.bincount(self.entity, minlength=self.n_entities)
        return self._counts

    @property
    def empty(self) -> np.ndarray | None:
        """Entities without a selected event, or None when there are none."""
        if self._empty is None:
            empty = self.counts == 0
            self._empty = empty if np.count_nonzero(empty) else _NO_EMPTY
        return None if self._empty is _NO_EMPTY else self._empty

    def total(
        self, weights: np.ndarray | None = None, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """Per-entity sum of `weights` (or count) over the selection, optionally masked."""
        entity = self.entity if mask is None else self.entity[mask]
        if weights is not None and mask is not None:
            weights = weights[mask]
        out = np.bincount(entity, weights=weights, minlength=self.n_entities)
        return out.astype(np.float64, copy=False)

    def decay(self, half_life_days: float) -> np.ndarray:
        """0.5 ** (age_days / half_life) per event as float64 weights for bincount.

        The exp runs in float32 (3x cheaper, ~1e-7 relative) and is widened into a
        reused float64 buffer, valid until the next call.
        """
        if self._f32 is None or self._f64 is None:
            self._f32 = np.empty(self.age.shape, dtype=np.float32)
            self._f64 = np.empty(self.age.shape, dtype=np.float64)
        scale = -1.0 / (half_life_days * SECONDS_PER_DAY)
        np.multiply(self.age, scale, out=self._f32, casting="same_kind")
        np.exp2(self._f32, out=self._f32)
        np.copyto(self._f64, self._f32)
        return self._f64


_NO_EMPTY = np.zeros(0, dtype=bool)  # sentinel: _Selection.empty computed, nobody empty


def _as_of_per_event(as_of: float | np.ndarray, events: EventColumns, n_entities: int):
    """Scalar as_of stays scalar (no 10M gather); an array is gathered per event."""
    if np.ndim(as_of) == 0:
        return float(as_of)  # type: ignore[arg-type]
    cut = np.asarray(as_of, dtype=np.float64)
    if cut.shape != (n_entities,):
        raise ValueError(f"as_of must be a scalar or shape ({n_entities},), got {cut.shape}")
    return cut[events.entity]


def _vocab_lookup(vocabulary: Sequence[str], allowed: Sequence[str]) -> np.ndarray:
    """Bool per vocabulary string (+ a False sentinel for code -1) saying it is allowed."""
    allowed_set = set(allowed)
    lookup = np.zeros(len(vocabulary) + 1, dtype=bool)
    for v, text in enumerate(vocabulary):
        if text in allowed_set:
            lookup[v] = True
    return lookup


class _Selector:
    """Builds and caches event selections per (event type, match filter) group."""

    def __init__(
        self,
        plan: _FeaturePlan,
        events: EventColumns,
        n_entities: int,
        cut: float | np.ndarray,
    ) -> None:
        self.plan = plan
        self.events = events
        self.n_entities = n_entities
        self.cut = cut  # as_of per event (_as_of_per_event)
        self.valid = events.ts <= self.cut  # no leakage: future events never count
        self._categories: np.ndarray | None = None
        self._by_type: dict[str, np.ndarray | None] = {}
        self._by_type_order: tuple[np.ndarray, list[int], list[int]] | None = None
        self._by_group: list[_Selection | None] = [None] * len(plan.groups)

    @property
    def categories(self) -> np.ndarray:
        if self._categories is None:
            plan = self.plan
            self._categories = _assign(
                plan.categories, plan.rules_by_property, self.events, plan.vocabularies
            )
        return self._categories

    def _sorted_types(self) -> tuple[np.ndarray, list[int], list[int]]:
        """(positions of the non-future events in (type, position) order, first and end
        offset of each type code in it); see _SORTED_TYPES_MAX_EVENTS."""
        if self._by_type_order is None:
            position = self.valid.nonzero()[0]
            types = self.events.event_type.take(position)
            order = np.argsort(types, kind="stable")  # stable: positions stay ascending
            types = types.take(order)
            codes = np.arange(len(self.events.event_types))
            first = np.searchsorted(types, codes, side="left").tolist()
            end = np.searchsorted(types, codes, side="right").tolist()
            self._by_type_order = position.take(order), first, end
        return self._by_type_order

    def _type_index(self, event: str) -> np.ndarray | None:
        """Positions of non-future events of type `event` (None = every event qualifies)."""
        if event not in self._by_type:
            codes = [i for i, name in enumerate(self.events.event_types) if name == event]
            n_events = len(self.events)
            if len(codes) == 1 and n_events <= _SORTED_TYPES_MAX_EVENTS:
                order, first, end = self._sorted_types()
                c = codes[0]
                index = order[first[c] : end[c]]
                self._by_type[event] = None if index.size == n_events else index
                return self._by_type[event]
            if len(codes) == 0:
                mask = np.zeros(len(self.events), dtype=bool)
            elif len(codes) == 1:
                mask = self.events.event_type == codes[0]
            else:
                mask = np.isin(self.events.event_type, codes)
            mask &= self.valid
            self._by_type[event] = None if mask.all() else np.flatnonzero(mask)
        return self._by_type[event]

    def _match_lookup(self, key: str, values: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(lookup, codes) for one match key; gather lookup[codes] to get the event mask."""
        if key == "category" and (self.plan.categories or "category" not in self.events.strings):
            return self.plan.category_lookups[values], self.categories
        column = self.events.strings.get(key)
        if column is None:  # the events do not carry this property: nothing matches
            return np.zeros(1, dtype=bool), np.full(len(self.events), -1, dtype=np.int32)
        cache = self.plan.vocabularies
        cache_key = ("match", (key, values), column.vocabulary)
        lookup = cache.get(cache_key)
        if lookup is None:
            lookup = _vocab_lookup(column.vocabulary, values)
            cache.put(cache_key, lookup)
        return lookup, column.codes

    def select(self, group: int) -> _Selection:
        sel = self._by_group[group]
        if sel is not None:
            return sel
        event, match = self.plan.groups[group]
        index = self._type_index(event)
        for prop, values in match:
            lookup, codes = self._match_lookup(prop, values)
            keep = lookup[codes if index is None else codes[index]]
            index = np.flatnonzero(keep) if index is None else index[keep]
        sel = self._by_group[group] = _Selection(self.events, index, self.cut, self.n_entities)
        return sel

    def eliminated_by(self) -> np.ndarray:
        """Smallest eliminatory category index any non-future event of an entity falls in."""
        out = np.empty(self.n_entities, dtype=np.int32)
        out.fill(-1)  # np.full costs a Python-level wrapper per request
        eliminatory = self.plan.eliminatory
        if not eliminatory:
            return out
        cats = self.categories
        hit = self.plan.eliminatory_lookup[cats] & self.valid
        if not np.count_nonzero(hit):
            return out
        entity, cat = self.events.entity[hit], cats[hit]
        for i in reversed(eliminatory):  # per rule, so the smallest index is written last
            out[entity[cat == i]] = i
        return out


def _require(value: float | None, what: str, signal: Signal) -> float:
    if value is None or not value > 0:
        raise ValueError(f"signal {signal.name!r}: {signal.aggregate} needs {what} > 0")
    return float(value)


_EVENT_AGGREGATES = frozenset(
    {
        Aggregate.COUNT,
        Aggregate.EXISTS,
        Aggregate.SUM,
        Aggregate.DECAYED_COUNT,
        Aggregate.DECAYED_SUM,
        Aggregate.WINDOW_COUNT,
        Aggregate.WINDOW_SUM,
        Aggregate.TREND,
        Aggregate.DAYS_SINCE_LAST,
        Aggregate.DAYS_SINCE_FIRST,
        Aggregate.DISTINCT_DAYS,
        Aggregate.DENSITY,
    }
)


def _aggregate(step: _Step, sel: _Selection, numbers: Mapping[str, np.ndarray]) -> np.ndarray:
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
        return (now - before) / (before + 1.0)
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
        return _distinct_days(sel)
    # Aggregate.DENSITY (the plan admits nothing else)
    clicks = numbers.get("clicks")
    weight = sel.value
    if clicks is not None:
        c = np.asarray(sel.gather(np.asarray(clicks)), dtype=np.float64)
        weight = weight * np.where(np.isnan(c), 1.0, c)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sel.total(weight) / sel.counts


# Small batches: every sum-like aggregate of every group at once (see _Fused).
_FUSED_MAX_EVENTS = 2048
_FUSED_MAX_BINS = 1 << 20

# Row kinds of _Fused: per-event weight, summed per (row, entity) by one bincount.
_ONES, _VALUE, _DECAY, _VALUE_DECAY, _DENSITY = range(5)


class _Fused:
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
    ufunc.at per kind; distinct_days keeps the per-group selection.
    """

    def __init__(
        self,
        steps: Sequence[_Step],
        groups: Sequence[tuple[str, _Match]],
        categories: Sequence[CategoryRule],
        category_lookups: Mapping[tuple[str, ...], np.ndarray],
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
        self.distinct = tuple(
            (p, steps[j].group) for p, (j, r) in enumerate(used) if r[0] is Aggregate.DISTINCT_DAYS
        )


def _group_masks(selector: _Selector) -> np.ndarray | None:
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
    fused = plan.fused
    matches = fused.matches
    if fused.category_groups.size:  # every category filter in one gather (profile rules)
        masks[fused.category_groups] &= fused.category_table[:, selector.categories]
        matches = fused.other_matches
    for g, prop, values in matches:
        lookup, value_codes = selector._match_lookup(prop, values)
        masks[g] &= lookup[value_codes]
    return masks


def _fused_columns(
    fused: _Fused, selector: _Selector, steps: Sequence[_Step], matrix: np.ndarray
) -> bool:
    """Writes every event signal's column of `matrix` (False: not applicable, untouched)."""
    events, n = selector.events, selector.n_entities
    masks = _group_masks(selector)
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
        clicks = events.numbers.get("clicks")
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
        values[fused.trend] = (now - before) / (before + 1.0)
    if fused.density_out.size:
        with np.errstate(invalid="ignore", divide="ignore"):
            values[fused.density_out] = sums[fused.density_sum] / sums[fused.density_count]
    if fused.last.size:
        low = _extreme(np.minimum, np.inf, masks[fused.low_groups], events.entity, age, n)
        values[fused.last] = low[fused.last_of] / SECONDS_PER_DAY
    if fused.first.size:
        high = _extreme(np.maximum, -np.inf, masks[fused.high_groups], events.entity, age, n)
        values[fused.first] = high[fused.first_of] / SECONDS_PER_DAY
    for p, group in fused.distinct:
        selected = _Selection(events, masks[group].nonzero()[0], selector.cut, n)
        values[p] = _distinct_days(selected)
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


def _distinct_days(sel: _Selection) -> np.ndarray:
    """Distinct UTC days per entity: a dense (entity, day) bitmap when small, else np.unique."""
    n = sel.n_entities
    if sel.entity.size == 0:
        return np.zeros(n)
    day = np.floor(sel.gather(sel.events.ts) / SECONDS_PER_DAY).astype(np.int64)
    first = int(day.min())
    span = int(day.max()) - first + 1
    cell = sel.entity * span + (day - first)
    if n * span <= _DENSE_DAY_CELLS:
        seen = np.zeros(n * span, dtype=bool)
        seen[cell] = True
        owners = np.flatnonzero(seen) // span
    else:
        owners = np.unique(cell) // span
    return np.bincount(owners, minlength=n).astype(np.float64)


def compute_features(
    profile: Profile,
    events: EventColumns,
    n_entities: int,
    as_of: float | np.ndarray,
) -> FeatureSet:
    """Fold events into the profile's feature matrix as seen at `as_of`.

    `as_of` (epoch seconds) is one scalar, or one value per entity for point-in-time
    features (calibration, backtests); events after an entity's as_of are ignored. The
    matrix is float64 [n_entities, n_signals] in Fortran order: each signal's column is
    written contiguously here and scoring clips it column-wise in cache-sized blocks
    (numpy semantics and `.tobytes()` are unaffected by the memory order).
    """
    n_events = len(events)
    if n_events and (int(events.entity.min()) < 0 or int(events.entity.max()) >= n_entities):
        raise ValueError(f"event entity indices must lie in [0, {n_entities})")
    cut = _as_of_per_event(as_of, events, n_entities)
    plan = _feature_plan(profile)
    selector = _Selector(plan, events, n_entities, cut)
    matrix = np.empty((n_entities, len(plan.steps)), dtype=np.float64, order="F")
    for j, step in enumerate(plan.steps):
        if step.aggregate is None:  # filled from related scores by the caller (engine.related)
            matrix[:, j] = step.missing
    if (
        n_events <= _FUSED_MAX_EVENTS
        and plan.fused.n_rows * n_entities <= _FUSED_MAX_BINS
        and _fused_columns(plan.fused, selector, plan.steps, matrix)
    ):
        return FeatureSet(matrix=matrix, eliminated_by=selector.eliminated_by())
    for j, step in enumerate(plan.steps):
        if step.aggregate is None:
            continue
        sel = selector.select(step.group)
        column = matrix[:, j]
        np.copyto(column, _aggregate(step, sel, events.numbers))
        empty = sel.empty
        if empty is not None:
            np.copyto(column, step.missing, where=empty)
    return FeatureSet(matrix=matrix, eliminated_by=selector.eliminated_by())
