"""One row's score in plain Python floats (score_one_row), for a unary call.

Scoring one entity (a unary ScoreEntities, inline or stored, or the writer rescoring the
one entity an event touched) costs ~80 us through the block pass, nearly all of it
numpy's per-call cost: ~60 calls on arrays of one element for fit rules, disqualifiers,
normalisation and tiers. Here the row's attribute values are read once and each rule is
a dict look-up or a compare on a Python float. The engagement dot product stays the
block pass's own `np.matmul` of the clipped row (its summation order is the library's),
top reasons rank the same packed keys (scoring._top_reasons), and every other number
comes from the same IEEE double operations in the same order, so the result is
byte-identical to engine.scoring.score (tests/engine/test_one_row.py holds them
together).

Anything this path does not decide the same way returns None and the block pass scores
it: quantile and grid tiers (cut on a population), and attribute columns that are
neither codes nor floats.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence

import numpy as np

from prioscore.server.engine.fit import FitPlan, number_or_none
from prioscore.server.engine.model import CategoricalColumn, Profile, ScoreResult
from prioscore.server.engine.scoring_plan import _ScorePlan

_ABSENT = object()  # the row's attribute column is not in the request at all


def score_one_row(
    profile: Profile,
    plan: _ScorePlan,
    clipped: np.ndarray,
    eliminated_by: int,
    attributes: Mapping[str, object],
    *,
    explain: bool = False,
    top_reasons: int = 3,
) -> ScoreResult | None:
    """The score of one row whose features, clipped to the plan's bounds, are `clipped`
    ((1, n_signals) float64, C order): the block pass's numbers, or None where this path
    does not apply (module docstring). `attributes`: the request's columns by name;
    `explain` and `top_reasons` as score() takes them."""
    if not plan.absolute:
        return None
    values: dict[str, object] = {}
    for name in plan.attribute_names:
        value = _one_value(attributes.get(name, _ABSENT))
        if value is None:
            return None  # a column form the block pass decides on its own
        values[name] = value
    eng = float(np.matmul(clipped, plan.w)[0])
    fit = 0.0  # a rule whose attribute the request lacks awards nothing
    awards: list[float] = []  # per fit rule, for the explanation
    for attribute, fit_plan in plan.fits:
        value = values[attribute]
        points = 0.0
        if value is not _ABSENT:
            points = _fit_points(fit_plan, value)  # type: ignore[arg-type]
            fit += points
        awards.append(points)
    eng = _clip(eng, 0.0, plan.max_points) * plan.eng_scale
    fit = _clip(fit, 0.0, plan.fit_max) * plan.fit_scale  # 0.0 stays 0.0, as unclipped
    blend = plan.blend
    if plan.multiply:
        total = (fit * (blend / 100.0) + (1.0 - blend)) * eng
    else:
        total = eng * (1.0 - blend)
        if blend:
            total += blend * fit
    reason = _disqualified_by(profile, plan, values, eliminated_by)
    tier = -1 if reason else _absolute_tier(plan.cut_list, total)
    contributions = reasons = None
    if explain:
        row = [x * w for x, w in zip(clipped[0].tolist(), plan.w_list, strict=True)] + awards
        contributions = np.array([row])
        k = min(max(top_reasons, 0), len(row))
        reasons = np.array([_top_columns(contributions, k)], dtype=np.int32).reshape(1, k)
    return ScoreResult(
        score=np.array([total]),
        engagement=np.array([eng]),
        fit=np.array([fit]),
        tier=np.array([tier], dtype=np.int32),
        disqualified=np.array([bool(reason)]),
        disqualify_reason=np.array([reason], dtype=object),
        columns=plan.columns,
        contributions=contributions,
        reasons=reasons,
    )


def _top_columns(contributions: np.ndarray, k: int) -> list[int]:
    """scoring._top_reasons for one row: the same keys (|value|'s bits, the low bits
    replaced by the column, reversed), the largest taken and zeroed k times."""
    ncol = contributions.shape[1]
    low = (1 << max(1, (ncol - 1).bit_length())) - 1
    mask = 0x7FFF_FFFF_FFFF_FFFF & ~low
    bits = contributions[0].view(np.int64).tolist()
    keys = [(b & mask) | (low - j) for j, b in enumerate(bits)]
    columns: list[int] = []
    for j in range(k):
        column = low - (max(keys) & low)
        columns.append(column)
        if j + 1 < k:
            keys[column] = 0
    return columns


def _one_value(column: object) -> object:
    """The first row of an attribute column: its text ("" for code -1) or its float;
    _ABSENT for no column; None for a form this path leaves to the block pass."""
    if column is _ABSENT:
        return _ABSENT
    if isinstance(column, CategoricalColumn):
        code = int(column.codes[0])
        return column.vocabulary[code] if code >= 0 else ""
    if isinstance(column, np.ndarray) and column.dtype.kind == "f" and column.shape == (1,):
        return float(column[0])
    return None


def _clip(x: float, low: float, high: float) -> float:
    """np.clip of a float64 as numpy computes it: NaN stays NaN, and a value equal to a
    bound (-0.0 against 0.0 included) becomes the bound."""
    if x != x:
        return x
    x = x if x > low else low
    return x if x < high else high


def _fit_points(plan: FitPlan, value: str | float) -> float:
    """engine.fit.fit_fn's points for one row."""
    if isinstance(value, str):
        return float(plan.rule.points.get(value, 0.0))
    if value != value:  # NaN passes no edge: the award fit_fn gives it
        return plan.nan_award
    return float(plan.segment_points[bisect_right(plan.cut_list, value)])


def _position(value: str | float, values: Sequence[str], where: dict[str, int]) -> int:
    """engine.fit.position_fn for one row: i + 1 for values[i], 0 for none."""
    if isinstance(value, str):
        return where.get(value, 0)
    for i, text in enumerate(values, start=1):  # the first listed value wins
        if value == number_or_none(text):  # "abc" (None) never equals a number
            return i
    return 0


def _disqualified_by(
    profile: Profile, plan: _ScorePlan, values: dict[str, object], eliminated_by: int
) -> str:
    """engine.fit.disqualify_block's reason for one row ("" when it is not): scope rules
    first, then disqualify rules in profile order, then an eliminatory event."""
    for attribute, rule_values, text, where in plan.scope:
        value = values[attribute]
        if value is _ABSENT or not _position(value, rule_values, where):  # type: ignore[arg-type]
            return text
    for attribute, rule_values, texts, where in plan.disqualify:
        value = values[attribute]
        if value is _ABSENT:
            continue
        at = _position(value, rule_values, where)  # type: ignore[arg-type]
        if at:
            return texts[at - 1]
    if eliminated_by >= 0:
        cats = profile.categories
        name = (
            cats[eliminated_by].name if eliminated_by < len(cats) else f"category #{eliminated_by}"
        )
        return f"eliminatory event: {name}"
    return ""


def _absolute_tier(cuts: tuple[float, ...], score: float) -> int:
    """engine.tiers.absolute_tiers for one score, by the same rule for the same cuts."""
    if len(cuts) > 8:  # searchsorted, NaN last: bisect_right puts NaN after every cut too
        return max(bisect_right(cuts, score) - 1, 0)
    return sum(1 for cut in cuts[1:] if score >= cut)


__all__ = ["score_one_row"]
