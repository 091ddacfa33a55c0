"""The arrays of tables that say what a profile counts: [[categories]] (URL rules) and
[[signals]] (event aggregates and score signals), each issue with its key path.

Split from profiles.check, which keeps the issue collector and the fit and disqualify
rules, so each module stays one job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prioscore.server.engine import (
    NEEDS_HALF_LIFE,
    NEEDS_WINDOW,
    RELATED_AGGREGATES,
    SCORE_ONLY_AGGREGATES,
    Aggregate,
    CategoryRule,
    Relation,
    Signal,
)
from prioscore.server.profiles.check import KEYS, LIMITS, Checker, describe, hint
from prioscore.server.profiles.repeats import read_repeats


def read_categories(c: Checker, data: dict[str, Any]) -> tuple[CategoryRule, ...]:
    rules: list[CategoryRule] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(c.section(data, "categories")):
        p = f"categories[{i}]"
        c.unknown(t, p, KEYS["categories"])
        name = c.name(t, p)
        if name in seen:
            c.add(f"{p}.name", f"duplicate category {name!r} (also categories[{seen[name]}])")
        seen.setdefault(name, i)
        lists = {k: c.get(t, p, k, "strs") or () for k in ("equals", "prefixes", "contains")}
        prop = c.get(t, p, "property", "str")
        if prop == "":
            c.add(f"{p}.property", "property must not be empty (leave it out for 'url')")
        if not any(lists.values()):
            c.add(p, f"category {name!r} needs at least one of equals, prefixes, contains")
        rules.append(
            CategoryRule(
                name=name,
                property=prop or "url",
                eliminatory=bool(c.get(t, p, "eliminatory", "bool")),
                **lists,
            )
        )
    return tuple(rules)


def _match(
    c: Checker, t: dict[str, Any], p: str, categories: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    match: dict[str, tuple[str, ...]] = {}
    for prop, raw in (c.get(t, p, "match", "table") or {}).items():
        where = f"{p}.match.{prop}"
        values = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            c.add(
                where,
                "match values must be a string or a non-empty array of strings, "
                f"got {describe(raw)}",
            )
            continue
        if len(values) > LIMITS.max_profile_signals:
            c.add(where, f"{len(values)} values; at most {LIMITS.max_profile_signals}")
        if prop == "category":
            defined = ", ".join(categories) or "none"
            for v in values:
                if v not in categories:
                    c.add(
                        where,
                        f"category {v!r} is not defined by any [[categories]]"
                        f"{hint(v, categories)}; defined: {defined}",
                    )
        match[prop] = tuple(values)
    return match


def _parameter(
    c: Checker, t: dict[str, Any], p: str, key: str, agg: Aggregate | None, needs: frozenset
) -> float | None:
    """half_life_days / window_days: required (> 0) where the aggregate uses it, else refused.

    Refusing the unused key catches the classic mistake of adding a half-life to a plain
    `count` and expecting it to decay.
    """
    value = c.get(t, p, key, "num")
    if agg is None:
        return value
    if agg in needs:
        if key not in t:
            c.add(f"{p}.{key}", f"missing required key {key!r}: aggregate {agg.value!r} needs it")
        elif value is not None and value <= 0:
            c.add(f"{p}.{key}", f"{key} must be > 0, got {value:g}")
    elif key in t:
        users = ", ".join(sorted(a.value for a in needs))
        c.add(
            f"{p}.{key}",
            f"{key} has no effect on aggregate {agg.value!r} (only {users} use it); remove it",
        )
    return value


_EVENT_ONLY_KEYS = (
    "event",
    "match",
    "half_life_days",
    "window_days",
    "per_day",
    "once_per",
    "min_volume",
)
_SCORE_ONLY_KEYS = ("of", "min_score", "by")


def _score_source(
    c: Checker, t: dict[str, Any], p: str, aggregate: Aggregate | None
) -> tuple[str, Relation | None, float, str]:
    """scores / of / min_score / by of a score signal; refuses them on an event signal.

    A score signal reads another profile's current scores of related entities, so the
    event keys mean nothing on it and are refused rather than silently ignored.
    """
    scores = c.get(t, p, "scores", "str") or ""
    if not scores:
        for key in _SCORE_ONLY_KEYS:
            if key in t:
                c.add(f"{p}.{key}", f"{key} applies only to signals that read `scores`")
        if aggregate in SCORE_ONLY_AGGREGATES:
            c.add(
                f"{p}.aggregate",
                f"aggregate {aggregate.value!r} reads other profiles' scores: add"
                ' scores = "<profile>" and of = "account" | "members"',
            )
        return "", None, 0.0, ""
    for key in _EVENT_ONLY_KEYS:
        if key in t:
            c.add(f"{p}.{key}", f"{key} has no effect on a signal that reads `scores`; remove it")
    raw_of = c.get(t, p, "of", "str", required=True)
    relations = [r.value for r in Relation]
    of = Relation(raw_of) if raw_of in relations else None
    if raw_of is not None and of is None:
        c.add(f"{p}.of", f"unknown relation {raw_of!r}; valid: {', '.join(relations)}")
    if of is not None and aggregate is not None and aggregate not in RELATED_AGGREGATES[of]:
        valid = ", ".join(sorted(a.value for a in RELATED_AGGREGATES[of]))
        c.add(
            f"{p}.aggregate",
            f"aggregate {aggregate.value!r} cannot read {of.value!r} scores; valid: {valid}",
        )
    min_score = c.get(t, p, "min_score", "num") or 0.0
    if not 0 <= min_score <= 100:
        c.add(f"{p}.min_score", f"min_score is a 0-100 score, got {min_score:g}")
    by = c.get(t, p, "by", "str") or ""
    if aggregate == Aggregate.DISTINCT and not by:
        c.add(f"{p}.by", "missing required key 'by': aggregate 'distinct' counts values of it")
    elif aggregate != Aggregate.DISTINCT and "by" in t:
        c.add(f"{p}.by", "by has no effect unless aggregate = 'distinct'; remove it")
    return scores, of, min_score, by


def read_signals(c: Checker, data: dict[str, Any], categories: Sequence[str]) -> tuple[Signal, ...]:
    blocks = c.section(data, "signals")
    if not blocks and isinstance(data.get("signals", []), list):
        line = 1 if "signals" not in data else None
        c.add("signals", "a profile needs at least one [[signals]] block", line=line)
    signals: list[Signal] = []
    seen: dict[str, int] = {}
    aggregates = [a.value for a in Aggregate]
    for i, t in enumerate(blocks):
        p = f"signals[{i}]"
        c.unknown(t, p, KEYS["signals"])
        name = c.name(t, p)
        if name in seen:
            c.add(f"{p}.name", f"duplicate signal name {name!r} (also signals[{seen[name]}])")
        seen.setdefault(name, i)
        raw = c.get(t, p, "aggregate", "str", required=True)
        aggregate = Aggregate(raw) if raw in aggregates else None
        if raw is not None and aggregate is None:
            c.add(
                f"{p}.aggregate",
                f"unknown aggregate {raw!r}{hint(raw, aggregates)}; valid: {', '.join(aggregates)}",
            )
        cap = c.get(t, p, "cap", "num")
        if cap is not None and cap <= 0:
            c.add(f"{p}.cap", f"cap must be > 0 (points are clipped to -cap..cap), got {cap:g}")
        scores, of, min_score, by = _score_source(c, t, p, aggregate)
        event_agg = None if scores else aggregate
        per_day, once_per, min_volume = read_repeats(c, t, p, event_agg)
        signals.append(
            Signal(
                name=name,
                event=c.get(t, p, "event", "str", required=not scores) or "",
                aggregate=aggregate or Aggregate.COUNT,
                weight=c.get(t, p, "weight", "num", required=True) or 0.0,
                cap=cap,
                match={} if scores else _match(c, t, p, categories),
                half_life_days=_parameter(c, t, p, "half_life_days", event_agg, NEEDS_HALF_LIFE),
                window_days=_parameter(c, t, p, "window_days", event_agg, NEEDS_WINDOW),
                missing=c.get(t, p, "missing", "num") or 0.0,
                description=c.get(t, p, "description", "str") or "",
                scores=scores,
                of=of,
                min_score=min_score,
                by=by,
                per_day=per_day,
                once_per=once_per,
                min_volume=min_volume,
            )
        )
    return tuple(signals)


__all__ = ["read_categories", "read_signals"]
