"""Profile-level options beyond signals and fit: direction, combine, scope, alerts and
grid tiers.

Kept apart from profiles.check (signals, fit, disqualify) and profiles.loading ([profile],
[scoring], [tiers]) so each stays one job: these keys say how a score is read (direction),
made (combine), who is scored at all (scope), when a stored tier may change (alerts) and
how stale a stored score may get with no new event (refresh).
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Any, TypeVar

from prioscore.server.engine import (
    DEFAULT_REFRESH_SECONDS,
    Combine,
    Direction,
    Hysteresis,
    ScopeRule,
    TierMode,
    Tiers,
)
from prioscore.server.profiles.check import Checker, describe, hint, is_number

E = TypeVar("E", bound=StrEnum)


def read_choice(c: Checker, table: dict[str, Any], path: str, key: str, enum: type[E]) -> E:
    """An enum-valued key; absent means the enum's first member (the default)."""
    options = [m.value for m in enum]
    raw = c.get(table, path, key, "str")
    if raw is None:
        return next(iter(enum))
    if raw not in options:
        c.add(
            f"{path}.{key}",
            f"unknown {key} {raw!r}{hint(raw, options)}; valid: {', '.join(options)}",
        )
        return next(iter(enum))
    return enum(raw)


def read_direction(c: Checker, head: dict[str, Any]) -> Direction:
    return read_choice(c, head, "profile", "direction", Direction)


def read_combine(c: Checker, scoring: dict[str, Any], has_fit: bool) -> Combine:
    combine = read_choice(c, scoring, "scoring", "combine", Combine)
    if combine is Combine.MULTIPLY and not has_fit:
        c.add("scoring.combine", "combine = 'multiply' scales engagement by fit: add [[fit]] rules")
    return combine


def read_scope(c: Checker, data: dict[str, Any]) -> tuple[ScopeRule, ...]:
    """[[scope]]: every rule must hold (attribute in the list) for an entity to be scored."""
    rules: list[ScopeRule] = []
    for i, t in enumerate(c.section(data, "scope")):
        p = f"scope[{i}]"
        c.unknown(t, p, ("attribute", "in", "reason"))
        attribute = c.get(t, p, "attribute", "str", required=True) or ""
        values = c.get(t, p, "in", "strs", required=True)
        if values == ():
            c.add(f"{p}.in", "in must list at least one value")
        rules.append(ScopeRule(attribute, values or (), c.get(t, p, "reason", "str") or ""))
    return tuple(rules)


def _axis(c: Checker, t: dict[str, Any], key: str, what: str) -> tuple[tuple[str, float], ...]:
    """One grid axis: `name = threshold` pairs on a 0-100 score, lowest first from 0."""
    path = f"tiers.{key}"
    table = c.get(t, "tiers", key, "table", required=True) or {}
    pairs: list[tuple[str, float]] = []
    for name in table:
        value = c.get(table, path, name, "num")
        if value is None:
            continue
        if not 0.0 <= value <= 100.0:
            c.add(f"{path}.{name}", f"{what} thresholds are 0-100; {name} = {value:g}")
        elif not pairs and value != 0.0:
            c.add(f"{path}.{name}", f"the first {what} must start at 0 (lowest first)")
        elif pairs and value <= pairs[-1][1]:
            c.add(f"{path}.{name}", f"{what} thresholds must ascend, lowest first: {name}")
        pairs.append((name, value))
    if table and not pairs:
        c.add(path, f"define at least one {what}, lowest first")
    return tuple(pairs)


def read_grid(c: Checker, t: dict[str, Any], has_fit: bool) -> Tiers:
    """[tiers] mode = "grid": fit grades x engagement levels; cell names grade + level."""
    c.unknown(t, "tiers", ("mode", "fit", "engagement"))
    grades = _axis(c, t, "fit", "fit grade")
    levels = _axis(c, t, "engagement", "engagement level")
    if not has_fit:
        c.add("tiers.mode", "grid tiers grade fit: add [[fit]] rules or use absolute tiers")
    names = tuple(g + level for level, _ in levels for g, _ in grades)
    if len(set(names)) != len(names):
        c.add("tiers", "grade + level names must be unique (e.g. grades A-D, levels 1-4)")
    return Tiers(TierMode.GRID, names, (), grades=grades, levels=levels)


def read_alerts(c: Checker, data: dict[str, Any], mode: TierMode) -> Hysteresis:
    """[alerts]: hysteresis for stored tier changes (engine.tiers.hold_tiers). A margin
    needs fixed cut points, so quantile tiers (cut points that move with the population)
    refuse it rather than ignore it."""
    t = c.section(data, "alerts")
    c.unknown(t, "alerts", ("margin", "min_days_in_tier"))
    margin = c.get(t, "alerts", "margin", "num") or 0.0
    if not 0.0 <= margin <= 50.0:
        c.add("alerts.margin", f"margin is in score points, 0-50, got {margin:g}")
    elif margin and mode is not TierMode.ABSOLUTE:
        c.add(
            "alerts.margin",
            f"margin needs absolute tiers (a {mode.value} tier has no single score cut); "
            f"use min_days_in_tier to hold {mode.value} tiers",
        )
    days = c.get(t, "alerts", "min_days_in_tier", "num") or 0.0
    if days < 0:
        c.add("alerts.min_days_in_tier", f"min_days_in_tier must be >= 0, got {days:g}")
    return Hysteresis(margin=max(margin, 0.0), min_days_in_tier=max(days, 0.0))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
REFRESH_RANGE = (10.0, 86_400.0)  # at least 10 s (a sweep is not free), at most a day


def read_refresh(c: Checker, scoring: dict[str, Any]) -> float:
    """[scoring] refresh: "30s", "5m", "1h", "1d" (or seconds as a number)."""
    if "refresh" not in scoring:
        return DEFAULT_REFRESH_SECONDS
    value = scoring["refresh"]
    seconds: float | None = None
    if is_number(value):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    low, high = REFRESH_RANGE
    if seconds is None or not math.isfinite(seconds) or not low <= seconds <= high:
        c.add(
            "scoring.refresh",
            f'refresh must be a duration between 10s and 1d such as "5m", got {describe(value)}',
        )
        return DEFAULT_REFRESH_SECONDS
    return seconds


__all__ = [
    "read_alerts",
    "read_combine",
    "read_direction",
    "read_grid",
    "read_refresh",
    "read_scope",
]
