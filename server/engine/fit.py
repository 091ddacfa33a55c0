"""Attribute rules per row block: fit points and disqualification.

Both read the scored entities' attribute columns (scoring.AttributeColumns) and turn
each rule into a block fn, (start, stop) rows -> values, that is one gather from a small
table decided per vocabulary string, range segment or key - never per entity. The
tables that depend on the rule alone (FitPlan) are built once per profile by
engine.scoring_plan; the per-request part (the vocabulary) is built here per call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from prioscore.server.engine.model import CategoricalColumn, FitRule, Profile

# A per-block computation: (start, stop) rows -> values for those rows.
BlockFn = Callable[[int, int], np.ndarray]

# Up to this many rows a fit range is one searchsorted rather than one compare per edge.
FEW_ROWS = 64


def first_positions(values: Sequence[str]) -> dict[str, int]:
    """value -> i + 1 of its first occurrence in `values` (for position_fn)."""
    return {v: i for i, v in reversed(list(enumerate(values, start=1)))}


def position_fn(
    column: np.ndarray | CategoricalColumn,
    values: Sequence[str],
    where: Mapping[str, int] | None = None,
) -> BlockFn:
    """Block fn -> which of `values` the attribute equals: i + 1 for values[i], 0 for none.

    Codes: decided per vocabulary string, then one gather. Numbers: compared with values
    that parse as numbers. Strings: one comparison per value, within a cache-sized span.
    `where` is first_positions(values) when the caller has it already.
    """
    small = np.uint8 if len(values) < 255 else np.intp
    if isinstance(column, CategoricalColumn):
        if where is None:
            where = first_positions(values)
        lookup = np.zeros(len(column.vocabulary) + 1, dtype=small)
        lookup[:-1] = [where.get(text, 0) for text in column.vocabulary]
        lookup[-1] = where.get("", 0)  # code -1 = missing, read as "" (AttributeColumns)
        codes = column.codes
        return lambda a, b: lookup[codes[a:b]]
    arr = np.asarray(column)
    numeric = arr.dtype.kind in "fiub"
    targets = [(i, number_or_none(v) if numeric else v) for i, v in enumerate(values, start=1)]
    targets = [(i, v) for i, v in targets if v is not None]

    def position(a: int, b: int) -> np.ndarray:
        out = np.zeros(b - a, dtype=small)
        for i, target in reversed(targets):  # reversed: the first listed value wins
            np.copyto(out, small(i), where=np.asarray(arr[a:b] == target, dtype=bool))
        return out

    return position


def number_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "abc" never equals a number
        return None


class FitPlan:
    """What a fit rule's block fns need from the rule alone: the award per vocabulary
    string is per request, the key table and the numeric range table are not."""

    def __init__(self, rule: FitRule) -> None:
        self.rule = rule
        self.keys = tuple(rule.points)
        self.key_points = np.array([0.0, *(float(rule.points[k]) for k in self.keys)])
        # Numeric ranges [low, high) as a table over the segments between all range
        # edges: membership is constant per segment, so the first matching range is
        # decided once per segment (by its left end).
        edges = sorted({e for r in rule.ranges for e in (r.low, r.high) if e is not None})
        table = []
        for left in [-np.inf, *edges]:
            award = 0.0
            for rng in rule.ranges:  # profile order: the first range containing `left` wins
                if (rng.low is None or left >= rng.low) and (rng.high is None or left < rng.high):
                    award = float(rng.points)
                    break
            table.append(award)
        self.segment_points = np.array(table)
        self.cuts = np.array(edges, dtype=np.float64)
        self.cut_list = tuple(self.cuts.tolist())  # for one row's bisect (engine.one_row)
        self.nan_needs_fix = bool(self.segment_points[0] != 0.0)  # NaN passes no edge
        # What NaN scores (segment 0's award if that is a zero, else 0.0), and whether
        # searchsorted's segment for NaN (the last) already gives exactly that.
        nan_award = self.segment_points[0] if not self.nan_needs_fix else np.float64(0.0)
        self.nan_award = float(nan_award)
        self.nan_in_last = self.segment_points[-1:].tobytes() == np.float64(nan_award).tobytes()


def fit_fn(plan: FitPlan, column: np.ndarray | CategoricalColumn | None) -> BlockFn:
    """Block fn -> fit points of one rule; missing, unmapped or out-of-range -> 0. Each
    form is one gather from a small table: per vocabulary string, range segment or key."""
    if column is None:
        return lambda a, b: np.zeros(b - a)
    rule = plan.rule
    if isinstance(column, CategoricalColumn):
        lookup = np.zeros(len(column.vocabulary) + 1)
        lookup[:-1] = [float(rule.points.get(text, 0.0)) for text in column.vocabulary]
        lookup[-1] = float(rule.points.get("", 0.0))  # code -1 = missing, read as ""
        codes = column.codes
        return lambda a, b: lookup[codes[a:b]]
    arr = np.asarray(column)
    if arr.dtype.kind in "fiub":
        return _range_fn(plan, arr.astype(np.float64, copy=False))
    table = plan.key_points  # [0] = no key matched
    position = position_fn(arr, plan.keys)
    return lambda a, b: table[position(a, b)]


def _range_fn(plan: FitPlan, x: np.ndarray) -> BlockFn:
    """Numeric ranges: each value counts the range edges it has passed (FitPlan)."""
    lookup, cuts, nan_needs_fix = plan.segment_points, plan.cuts, plan.nan_needs_fix
    nan_award, nan_in_last = plan.nan_award, plan.nan_in_last

    def points(a: int, b: int) -> np.ndarray:
        v = x[a:b]
        if b - a <= FEW_ROWS:  # few rows: one searchsorted beats one compare per edge;
            out = lookup[np.searchsorted(cuts, v, side="right")]  # NaN sorts last
            if not nan_in_last:
                out[np.isnan(v)] = nan_award
            return out
        if cuts.size > 64:
            segment = np.searchsorted(cuts, v, side="right")
            segment[np.isnan(v)] = 0
        else:
            segment = np.zeros(b - a, dtype=np.uint8)
            for cut in cuts:
                segment += (v >= cut).view(np.uint8)
        out = lookup[segment]
        if nan_needs_fix:
            out[np.isnan(v)] = 0.0
        return out

    return points


def fit_award(rule: FitRule) -> float:
    """The rule's largest award, floored at 0: its share of fit_max."""
    awards = [*rule.points.values(), *(r.points for r in rule.ranges)]
    return max(0.0, *awards) if awards else 0.0


def disqualify_block(
    a: int,
    b: int,
    disqualifiers: list[tuple[BlockFn, tuple[str, ...]]],
    eliminated_by: np.ndarray,
    profile: Profile,
    out: np.ndarray,
    reason: np.ndarray,
) -> bool:
    """Disqualification of rows [a, b): the first matching rule names the reason, then
    eliminatory events. Loops run per rule / matched value / category, never per entity;
    the common case (nobody disqualified) costs one gather and one `any` per rule.
    Returns whether any row [a, b) is disqualified."""
    hit_any = out[a:b]
    hit_any[:] = False
    any_hit = False  # hit_any.any(), tracked: earlier rules' hits need masking only then
    why = reason[a:b]
    why.fill("")  # 3x cheaper than np.full(n, "", object)
    for position, texts in disqualifiers:
        pos = position(a, b)
        hit = pos > 0
        if any_hit:
            hit &= ~hit_any
        if not np.count_nonzero(hit):  # ~4x cheaper than hit.any() on a few rows
            continue
        any_hit = True
        if len(set(texts)) == 1:
            why[hit] = texts[0]
        else:
            for p in np.unique(pos[hit]):
                why[hit & (pos == p)] = texts[int(p) - 1]
        hit_any |= hit
    elim = eliminated_by[a:b]
    hit = elim >= 0
    if any_hit:
        hit &= ~hit_any
    if np.count_nonzero(hit):
        for index in np.unique(elim[hit]):
            cats = profile.categories
            name = cats[index].name if 0 <= index < len(cats) else f"category #{index}"
            why[hit & (elim == index)] = f"eliminatory event: {name}"
        hit_any |= hit
        any_hit = True
    return any_hit
