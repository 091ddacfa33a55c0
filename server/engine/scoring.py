"""Feature matrix + profile -> scores, tiers, disqualifications and explanations.

ONE pass over row blocks: clip a block's features, dot with the weights, add fit points,
normalise, disqualify and tier while it is in cache. Caps fold into the features -
clip(w*f, -c, c) == w * clip(f, -c/|w|, c/|w|) - so the matrix is read once, like the
`X @ w` it is measured against, and no full-size temporary exists (peak memory ~ the
outputs). Blocks run on a few threads (numpy releases the GIL) as the anchor's BLAS does.
Explanations reuse the blocks; top reasons are max-reductions over packed keys
(`_top_reasons`), not a per-row argpartition (~350 ms for 1M rows of 34 columns).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from prioscore.server.engine.model import (
    CategoricalColumn,
    FeatureSet,
    FitRule,
    Profile,
    ScoreResult,
    TierMode,
    Tiers,
)
from prioscore.server.engine.plans import profile_plan

# Attributes of the scored entities, column per attribute: a float64 array for numeric
# attributes (NaN = missing); for categorical ones a str/object array or CategoricalColumn
# codes into a vocabulary - the cheap form for strings (one gather instead of one string
# comparison per mapped value; Store.attributes returns this form). A missing categorical
# value ("" or None in an array, code -1 in codes) reads as "" in both forms, so a rule
# keyed on "" means the same.
AttributeColumns = Mapping[str, "np.ndarray | CategoricalColumn"]
# A per-block computation: (start, stop) rows -> values for those rows.
BlockFn = Callable[[int, int], np.ndarray]

# Matrix blocks: 8192 x 32 float64 = 2 MB stays in L2; measured on 1M x 32, 4096 rows is
# 20% and 16384 rows 2-4x slower (32 column streams thrash the cache). Per-entity vector
# work (fit, normalisation, tiers) runs on 8x larger row spans to amortise call overhead.
_BLOCK_ROWS = 8192
_SPAN_ROWS = 8 * _BLOCK_ROWS
_PARALLEL_MIN_ROWS = 2 * _SPAN_ROWS
_MAX_WORKERS = 4
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


# np.clip without its Python wrapper (~2 us per call, a third of a one-row score): for
# float arrays with both bounds np.clip ends in exactly this ufunc (numpy._core._methods).
def _clip_ufunc() -> Callable[..., Any]:
    for module in ("numpy._core.umath", "numpy.core.umath"):
        try:
            return importlib.import_module(module).clip  # type: ignore[no-any-return]
        except (ImportError, AttributeError):  # pragma: no cover - other numpy layouts
            continue
    return np.clip  # pragma: no cover


_clip = _clip_ufunc()
# Up to this many rows a fit range is one searchsorted rather than one compare per edge.
_FEW_ROWS = 64


def _positions(values: Sequence[str]) -> dict[str, int]:
    """value -> i + 1 of its first occurrence in `values` (for _position_fn)."""
    return {v: i for i, v in reversed(list(enumerate(values, start=1)))}


def _position_fn(
    column: np.ndarray | CategoricalColumn,
    values: Sequence[str],
    where: Mapping[str, int] | None = None,
) -> BlockFn:
    """Block fn -> which of `values` the attribute equals: i + 1 for values[i], 0 for none.

    Codes: decided per vocabulary string, then one gather. Numbers: compared with values
    that parse as numbers. Strings: one comparison per value, within a cache-sized span.
    `where` is _positions(values) when the caller has it already.
    """
    small = np.uint8 if len(values) < 255 else np.intp
    if isinstance(column, CategoricalColumn):
        if where is None:
            where = _positions(values)
        lookup = np.zeros(len(column.vocabulary) + 1, dtype=small)
        lookup[:-1] = [where.get(text, 0) for text in column.vocabulary]
        lookup[-1] = where.get("", 0)  # code -1 = missing, read as "" (AttributeColumns)
        codes = column.codes
        return lambda a, b: lookup[codes[a:b]]
    arr = np.asarray(column)
    numeric = arr.dtype.kind in "fiub"
    targets = [(i, _number(v) if numeric else v) for i, v in enumerate(values, start=1)]
    targets = [(i, v) for i, v in targets if v is not None]

    def position(a: int, b: int) -> np.ndarray:
        out = np.zeros(b - a, dtype=small)
        for i, target in reversed(targets):  # reversed: the first listed value wins
            np.copyto(out, small(i), where=np.asarray(arr[a:b] == target, dtype=bool))
        return out

    return position


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "abc" never equals a number
        return None


class _FitPlan:
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
        self.nan_needs_fix = bool(self.segment_points[0] != 0.0)  # NaN passes no edge
        # What NaN scores (segment 0's award if that is a zero, else 0.0), and whether
        # searchsorted's segment for NaN (the last) already gives exactly that.
        nan_award = self.segment_points[0] if not self.nan_needs_fix else np.float64(0.0)
        self.nan_award = float(nan_award)
        self.nan_in_last = self.segment_points[-1:].tobytes() == np.float64(nan_award).tobytes()


def _fit_fn(plan: _FitPlan, column: np.ndarray | CategoricalColumn | None) -> BlockFn:
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
    position = _position_fn(arr, plan.keys)
    return lambda a, b: table[position(a, b)]


def _range_fn(plan: _FitPlan, x: np.ndarray) -> BlockFn:
    """Numeric ranges: each value counts the range edges it has passed (_FitPlan)."""
    lookup, cuts, nan_needs_fix = plan.segment_points, plan.cuts, plan.nan_needs_fix
    nan_award, nan_in_last = plan.nan_award, plan.nan_in_last

    def points(a: int, b: int) -> np.ndarray:
        v = x[a:b]
        if b - a <= _FEW_ROWS:  # few rows: one searchsorted beats one compare per edge;
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


def _fit_award(rule: FitRule) -> float:
    """The rule's largest award, floored at 0: its share of fit_max."""
    awards = [*rule.points.values(), *(r.points for r in rule.ranges)]
    return max(0.0, *awards) if awards else 0.0


def _cap_bounds(profile: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, low, high) so that w * clip(f, low, high) == clip(w * f, -cap, cap)."""
    w = np.array([s.weight for s in profile.signals], dtype=np.float64)
    cap = np.array([np.inf if s.cap is None else s.cap for s in profile.signals], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # tiny |w| -> inf
        high = np.where(w != 0, cap / np.abs(w), 0.0)
        for _ in range(4):  # rounding (denormal caps): step down until |w| * high <= cap
            over = np.abs(w) * high > cap
            if not over.any():
                break
            high[over] = np.nextafter(high[over], 0.0)
    return w, -high, high


class _ScorePlan:
    """What score() derives from the profile alone, built once per Profile object
    (engine.plans): weights and cap bounds (tiled lazily for C-order input), fit rule
    tables, normalisation constants, disqualifier texts and tier cut points. Arrays are
    read-only (shared by concurrent requests); no reference to the Profile is kept."""

    def __init__(self, profile: Profile) -> None:
        self.columns = (*profile.signal_names, *(f"fit:{rule.attribute}" for rule in profile.fit))
        self.w, self.lo, self.hi = _frozen(*_cap_bounds(profile))
        self.capped = bool(np.isfinite(self.hi).any())
        self._tiled: tuple[np.ndarray, np.ndarray] | None = None
        self.fits = tuple((rule.attribute, _FitPlan(rule)) for rule in profile.fit)
        self.fit_max = sum(_fit_award(rule) for rule in profile.fit)
        self.fit_scale = 100.0 / self.fit_max if self.fit_max > 0 else 0.0
        self.max_points = float(profile.max_points)
        self.eng_scale = 100.0 / self.max_points if self.max_points > 0 else 0.0
        self.blend = float(profile.fit_weight) if profile.fit else 0.0
        self.disqualify = tuple(
            (
                rule.attribute,
                rule.values,
                tuple(rule.reason or f"{rule.attribute} is {v}" for v in rule.values),
                _positions(rule.values),
            )
            for rule in profile.disqualify
            if rule.values
        )
        self.absolute = TierMode(profile.tiers.mode) is TierMode.ABSOLUTE
        (self.cuts,) = _frozen(np.asarray(profile.tiers.thresholds, dtype=np.float64))

    def tiled_bounds(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) repeated for `rows` C-order rows (at most a block; callers slice
        [: rows * s]); kept and grown to the largest request seen, so one-row requests
        hold a few bytes, not a whole block's worth."""
        reps = max(1, min(rows, _BLOCK_ROWS))
        tiled = self._tiled
        if tiled is None or tiled[0].size < reps * self.lo.size:
            lo, hi = _frozen(np.tile(self.lo, reps), np.tile(self.hi, reps))
            tiled = self._tiled = lo, hi
        return tiled


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.setflags(write=False)
    return arrays


def _score_plan(profile: Profile) -> _ScorePlan:
    return profile_plan(profile, "scoring", _ScorePlan)


def _absolute_tiers(cuts: np.ndarray, score: np.ndarray, out: np.ndarray) -> None:
    """out = last cut <= score (searchsorted side="right" - 1, floored at 0); with few
    cuts, counting the cuts passed is the same answer ~5x faster on 1M unsorted scores."""
    if cuts.size > 8:
        np.maximum(np.searchsorted(cuts, score, side="right") - 1, 0, out=out, casting="unsafe")
        return
    out[:] = 0
    for cut in cuts[1:]:
        out += score >= cut


def assign_tiers(tiers: Tiers, score: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """Tier index per entity (int32), -1 where not eligible.

    Absolute: thresholds are scores. Quantile: thresholds are population fractions; the
    cut points are np.quantile of the eligible scores, then the absolute rule applies.
    """
    score = np.asarray(score, dtype=np.float64)
    cuts = np.asarray(tiers.thresholds, dtype=np.float64)
    mask = None if eligible is None else np.asarray(eligible, dtype=bool)
    if TierMode(tiers.mode) is TierMode.QUANTILE and cuts.size:
        population = score if mask is None else score[mask]
        cuts = np.quantile(population, cuts) if population.size else np.full_like(cuts, np.inf)
    tier = np.empty(score.shape[0], dtype=np.int32)
    _absolute_tiers(cuts, score, tier)
    if mask is not None:
        tier[~mask] = -1
    return tier


def _top_reasons(block: np.ndarray, out: np.ndarray, scratch: dict[str, np.ndarray]) -> None:
    """Columns of the k largest |block| per row, largest first, ties -> lower column.

    The bits of a float64 with the sign cleared, read as int64, order like its absolute
    value (inf and NaN included). Replacing the low 6+ mantissa bits with (mask - column)
    makes keys unique per row that still order like the values (up to a 2**-46 relative
    near-tie) and carry their column. Each round is one column-wise max-reduction over the
    Fortran-ordered block, then the winner is zeroed by a flat scatter - no per-row sort.
    """
    rows, ncol = block.shape
    keys = scratch.get("keys")
    if keys is None or keys.shape != (rows, ncol):
        keys = scratch["keys"] = np.empty((rows, ncol), dtype=np.int64, order="F")
    low = (1 << max(1, (ncol - 1).bit_length())) - 1
    np.bitwise_and(block.view(np.int64), np.int64(0x7FFF_FFFF_FFFF_FFFF & ~low), out=keys)
    np.bitwise_or(keys, low - np.arange(ncol, dtype=np.int64), out=keys)
    flat = keys.reshape(-1, order="F")  # a view: keys is exactly (rows, ncol), Fortran
    row = np.arange(rows, dtype=np.intp)
    for j in range(out.shape[1]):
        column = low - (keys.max(axis=1) & low)
        out[:, j] = column
        if j + 1 < out.shape[1]:
            flat[column * rows + row] = 0


def _scratch(
    scratch: dict[str, np.ndarray], name: str, shape: tuple[int, ...], dtype: type = np.float64
) -> np.ndarray:
    """A per-thread reusable Fortran buffer (a fresh 2 MB array per block = page faults)."""
    buf = scratch.get(name)
    if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:]:
        buf = np.empty((max(shape[0], _BLOCK_ROWS), *shape[1:]), dtype=dtype, order="F")
        scratch[name] = buf
    return buf[: shape[0]]


def _run_blocks(n: int, fn: Callable[[int, int, dict[str, np.ndarray]], None]) -> None:
    """fn(start, stop, scratch) over row spans; big n is split over a thread pool. Each
    worker owns a contiguous run and its scratch: threads share only read-only inputs."""
    global _pool
    if n <= _SPAN_ROWS:  # one span: no thread pool, no CPU count
        if n:
            fn(0, n, {})
        return
    workers = 1
    if n >= _PARALLEL_MIN_ROWS:
        affinity = getattr(os, "sched_getaffinity", None)
        cores = len(affinity(0)) if affinity is not None else os.cpu_count()
        workers = max(1, min(cores or 1, _MAX_WORKERS))

    def part(first: int, last: int) -> None:
        scratch: dict[str, np.ndarray] = {}
        for start in range(first, last, _SPAN_ROWS):
            fn(start, min(start + _SPAN_ROWS, last), scratch)

    if workers == 1:
        part(0, n)
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_MAX_WORKERS, thread_name_prefix="prioscore-engine")
    per = -(-n // (workers * _SPAN_ROWS)) * _SPAN_ROWS
    starts = range(0, n, per)
    # The caller takes the first run itself: one thread hand-off fewer, and it starts now.
    futures = [_pool.submit(part, a, min(a + per, n)) for a in starts[1:]]
    try:
        part(0, min(per, n))
    finally:
        for future in futures:
            future.result()


def score(
    profile: Profile,
    features: FeatureSet,
    attributes: AttributeColumns,
    *,
    explain: bool = False,
    top_reasons: int = 3,
) -> ScoreResult:
    """Score n entities: engagement, fit, priority score, tier, disqualification, why.

    Follows the Profile docstring: engagement = 100 * clip(sum points, 0, max_points) /
    max_points; fit likewise against fit_max (0 when fit_max is 0); score blends them by
    fit_weight when there are fit rules. Disqualified entities (first matching
    DisqualifyRule in profile order names the reason, then eliminatory events) keep their
    score but get tier -1 and are left out of quantile cut points.
    """
    matrix = np.asarray(features.matrix, dtype=np.float64)
    s = len(profile.signals)
    if matrix.ndim != 2 or matrix.shape[1] != s:
        raise ValueError(f"feature matrix must be [n, {s}], got {matrix.shape}")
    n = matrix.shape[0]
    eliminated_by = np.asarray(features.eliminated_by)
    if eliminated_by.shape != (n,):
        raise ValueError(f"eliminated_by must have shape ({n},), got {eliminated_by.shape}")
    plan = _score_plan(profile)
    columns = plan.columns
    w, lo, hi, capped = plan.w, plan.lo, plan.hi, plan.capped
    fortran = matrix.flags.f_contiguous and not matrix.flags.c_contiguous
    if not fortran:  # C order: clip flat against tiled bounds (a (rows, s) broadcast would
        matrix = np.ascontiguousarray(matrix)  # make numpy loop s elements at a time)
        tiled_lo, tiled_hi = plan.tiled_bounds(n)
    # Fit rules whose attribute the request lacks award 0: no block fn, just 0 points.
    fit_fns: list[tuple[int, BlockFn]] = []
    no_fit: list[int] = []
    for j, (attribute, fit_plan) in enumerate(plan.fits):
        column = attributes.get(attribute)
        if column is None:
            no_fit.append(s + j)
        else:
            fit_fns.append((s + j, _fit_fn(fit_plan, column)))
    fit_max, fit_scale, max_points = plan.fit_max, plan.fit_scale, plan.max_points
    eng_scale, blend = plan.eng_scale, plan.blend
    disqualifiers: list[tuple[BlockFn, tuple[str, ...]]] = []
    for attribute, values, texts, where in plan.disqualify:
        column = attributes.get(attribute)
        if column is not None:
            disqualifiers.append((_position_fn(column, values, where), texts))
    absolute, cuts = plan.absolute, plan.cuts

    engagement, fit, total = np.empty(n), np.empty(n), np.empty(n)
    tier = np.empty(n, dtype=np.int32)
    disqualified = np.empty(n, dtype=bool)
    reason = np.empty(n, dtype=object)
    contributions = reasons = None
    if explain:
        contributions = np.empty((n, len(columns)), order="F")
        reasons = np.empty((n, min(max(top_reasons, 0), len(columns))), dtype=np.int32)

    def matrix_block(a: int, b: int, scratch: dict[str, np.ndarray]) -> None:
        """Clip + dot (+ contributions and reasons) for one cache-sized block of rows."""
        rows = b - a
        if fortran:
            c = contributions
            buf = _scratch(scratch, "clip", (rows, s)) if c is None else c[a:b, :s]
            if capped:
                _clip(matrix[a:b], lo, hi, out=buf)
            else:
                np.copyto(buf, matrix[a:b])
        else:
            flat = _scratch(scratch, "flat", (_BLOCK_ROWS * s,))[: rows * s]
            if capped:
                _clip(matrix[a:b].reshape(-1), tiled_lo[: rows * s], tiled_hi[: rows * s], out=flat)
            else:
                np.copyto(flat, matrix[a:b].reshape(-1))
            buf = flat.reshape(rows, s)
        np.matmul(buf, w, out=engagement[a:b])
        if contributions is not None:
            np.multiply(buf, w, out=contributions[a:b, :s])
            if reasons is not None and reasons.shape[1]:
                _top_reasons(contributions[a:b], reasons[a:b], scratch)

    def run(a: int, b: int, scratch: dict[str, np.ndarray]) -> None:
        fit_span = fit[a:b]
        fit_span[:] = 0.0
        for j, fn in fit_fns:  # before the blocks: reasons rank fit columns too
            pts = fn(a, b)
            fit_span += pts
            if contributions is not None:
                contributions[a:b, j] = pts
        if contributions is not None:
            for j in no_fit:
                contributions[a:b, j] = 0.0
        for start in range(a, b, _BLOCK_ROWS):
            matrix_block(start, min(start + _BLOCK_ROWS, b), scratch)
        eng = engagement[a:b]
        _clip(eng, 0.0, max_points, out=eng)
        eng *= eng_scale
        if fit_fns:  # else fit is +0.0 everywhere and clipping and scaling keep it so
            _clip(fit_span, 0.0, fit_max, out=fit_span)
            fit_span *= fit_scale
        np.multiply(eng, 1.0 - blend, out=total[a:b])
        if blend:
            total[a:b] += blend * fit_span
        any_out = _disqualify_block(
            a, b, disqualifiers, eliminated_by, profile, disqualified, reason
        )
        if absolute:
            _absolute_tiers(cuts, total[a:b], tier[a:b])
            if any_out:
                tier[a:b][disqualified[a:b]] = -1

    _run_blocks(n, run)
    if not absolute:
        tier = assign_tiers(profile.tiers, total, ~disqualified if disqualified.any() else None)
    return ScoreResult(
        score=total,
        engagement=engagement,
        fit=fit,
        tier=tier,
        disqualified=disqualified,
        disqualify_reason=reason,
        columns=columns,
        contributions=contributions,
        reasons=reasons,
    )


def _disqualify_block(
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


__all__ = ["AttributeColumns", "assign_tiers", "score"]
