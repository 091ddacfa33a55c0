"""Validation of the profile format's arrays of tables (the format: profiles.loading).

`Checker` collects *every* issue (file, line, key path, reason) instead of stopping at the
first; the section readers here build engine types from whatever they could read.
Placeholders (weight 0.0, Aggregate.COUNT, ...) stand in for bad values only so checking
can continue past them: the loader raises when any issue exists, so a half-built Profile
never escapes. [profile], [scoring] and [tiers] are checked in profiles.loading,
[[categories]] and [[signals]] in profiles.signals; [[fit]] and [[disqualify]] here.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from typing import Any

from prioscore.server.config import Limits
from prioscore.server.engine import (
    DisqualifyRule,
    FitRule,
    NumericRange,
    Profile,
    Signal,
    profile_inputs,
)
from prioscore.server.errors import ProfileIssue
from prioscore.server.profiles.toml_text import Locator

TABLES = ("profile", "scoring", "tiers", "alerts")
ARRAYS = ("categories", "signals", "fit", "disqualify", "scope")
KEYS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "version", "entity", "description", "members", "direction"),
    "scoring": ("max_points", "fit_weight", "combine", "refresh"),
    "categories": ("name", "property", "equals", "prefixes", "contains", "eliminatory"),
    "signals": (
        "name",
        "event",
        "aggregate",
        "weight",
        "cap",
        "match",
        "half_life_days",
        "window_days",
        "missing",
        "description",
        "scores",
        "of",
        "min_score",
        "by",
        "per_day",
        "once_per",
        "min_volume",
    ),
    "fit": ("attribute", "points", "ranges"),
    "ranges": ("min", "max", "points"),
    "disqualify": ("attribute", "in", "reason"),
}
TIER_KEYS = ("mode", "names", "thresholds")
DEFAULT_FIT_WEIGHT = 0.3  # fit's share when a profile has [[fit]] rules but no fit_weight
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")  # fullmatch: "$" would let "a\n" pass
LIMITS = Limits()
# A property or attribute name becomes a quoted label of an SQLite JSON path, which can
# neither escape a double quote nor match a key stored with a JSON escape (backslash,
# control characters): such a name would read as missing on every entity, so it is
# refused here rather than found out at ingest.
_UNREADABLE_NAME = re.compile(r'["\\\x00-\x1f\x7f]')
_KINDS = {
    "str": "a string",
    "num": "a number",
    "bool": "true or false",
    "table": "a table (e.g. { key = ... })",
    "strs": "an array of strings",
}


def hint(word: str, options: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for the closest option, or nothing."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(value: Any) -> str:
    """A value as an editor would recognise it in the file."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    return "a table" if isinstance(value, dict) else type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def default_max_points(signals: Sequence[Signal]) -> float | None:
    """Sum of the caps of positive-weight signals; None when one of them has no cap."""
    positive = [s for s in signals if s.weight > 0]
    if any(s.cap is None for s in positive):
        return None
    return float(sum(s.cap or 0.0 for s in positive))


class Checker:
    """Collects issues while reading one parsed file, so all of them are reported at once."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.locator = Locator(text)
        self.issues: list[ProfileIssue] = []

    def add(self, path: str, reason: str, line: int | None = None) -> None:
        where = self.locator.line_of(path) if line is None else line
        self.issues.append(ProfileIssue(self.source, where, path, reason))

    def reported(self, path: str) -> bool:
        return any(issue.key == path for issue in self.issues)

    def unknown(self, table: dict[str, Any], path: str, valid: Sequence[str]) -> None:
        for key in table:
            if key not in valid:
                valid_list = ", ".join(valid)
                reason = f"unknown key {key!r}{hint(key, valid)}; valid keys: {valid_list}"
                self.add(f"{path}.{key}", reason)

    def get(
        self, table: dict[str, Any], path: str, key: str, kind: str, *, required: bool = False
    ) -> Any:
        """The value of `key` if present and of `kind` (numbers as float), else None."""
        where = f"{path}.{key}"
        if key not in table:
            if required:
                self.add(where, f"missing required key {key!r}")
            return None
        value = table[key]
        ok = {
            "str": isinstance(value, str),
            "num": is_number(value),
            "bool": isinstance(value, bool),
            "table": isinstance(value, dict),
            "strs": isinstance(value, list) and all(isinstance(v, str) for v in value),
        }[kind]
        if not ok:
            self.add(where, f"{key} must be {_KINDS[kind]}, got {describe(value)}")
            return None
        if kind == "num":
            if not math.isfinite(value):
                self.add(where, f"{key} must be a finite number, got {value}")
                return None
            return float(value)
        if kind == "strs":
            if any(not v for v in value):
                self.add(where, f"{key} must not contain empty strings")
            return tuple(value)
        if kind == "str" and required and not value.strip():
            self.add(where, f"{key} must not be empty")
        return value

    def name(self, table: dict[str, Any], path: str) -> str:
        value = self.get(table, path, "name", "str", required=True)
        if value and not _NAME.fullmatch(value):
            reason = f"name {value!r} must start with a letter and use only letters, digits, _ . -"
            self.add(f"{path}.name", reason)
        return value or ""

    def section(self, data: dict[str, Any], name: str, *, required: bool = False) -> Any:
        """A top-level table (dict) or array of tables (list of dicts), checked for shape."""
        array = name in ARRAYS
        if name not in data:
            if required:
                header = f"[[{name}]]" if array else f"[{name}]"
                self.add(name, f"missing required table {header}", line=1)
            return [] if array else {}
        value = data[name]
        if array and not isinstance(value, list):
            self.add(name, f"write [[{name}]] (one block per item), not [{name}]")
            return []
        if not array and not isinstance(value, dict):
            self.add(name, f"write [{name}] (a single table), not [[{name}]] or a value")
            return {}
        if array:
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    self.add(f"{name}[{i}]", f"each {name} entry must be a table, got {item!r}")
            return [item if isinstance(item, dict) else {} for item in value]
        return value


def check_input_names(c: Checker, profile: Profile) -> None:
    """Every property and attribute name the profile reads must be one the store can
    look up (see _UNREADABLE_NAME) and within the name limit."""
    needs = profile_inputs(profile)
    for name in (
        *needs.string_properties,
        *needs.numeric_properties,
        *needs.categorical_attributes,
        *needs.numeric_attributes,
    ):
        if _UNREADABLE_NAME.search(name):
            c.add(
                "profile",
                f"property / attribute name {name!r} contains a double quote, a backslash"
                " or a control character, which stored JSON cannot be searched for",
                line=0,
            )
        elif len(name.encode()) > LIMITS.max_name_bytes:
            c.add("profile", f"name {name[:40]!r}... is over {LIMITS.max_name_bytes} bytes", line=0)


def _ranges(c: Checker, t: dict[str, Any], p: str) -> tuple[NumericRange, ...]:
    raw = t.get("ranges", [])
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        c.add(f"{p}.ranges", "ranges must be an array of { min = ..., max = ..., points = ... }")
        return ()
    out: list[NumericRange] = []
    for j, r in enumerate(raw):
        q = f"{p}.ranges[{j}]"
        c.unknown(r, q, KEYS["ranges"])
        low, high = c.get(r, q, "min", "num"), c.get(r, q, "max", "num")
        if low is not None and high is not None and low >= high:
            c.add(q, f"min ({low:g}) must be below max ({high:g}); a range is [min, max)")
        for k, other in enumerate(out):
            lo = max(
                -math.inf if low is None else low, -math.inf if other.low is None else other.low
            )
            hi = min(
                math.inf if high is None else high, math.inf if other.high is None else other.high
            )
            if lo < hi:
                c.add(q, f"overlaps {p}.ranges[{k}]; a value must fall in at most one range")
        out.append(NumericRange(low, high, c.get(r, q, "points", "num", required=True) or 0.0))
    return tuple(out)


def read_fit(c: Checker, data: dict[str, Any]) -> tuple[FitRule, ...]:
    rules: list[FitRule] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(c.section(data, "fit")):
        p = f"fit[{i}]"
        c.unknown(t, p, KEYS["fit"])
        attribute = c.get(t, p, "attribute", "str", required=True) or ""
        if attribute in seen:
            reason = f"attribute {attribute!r} is already scored by fit[{seen[attribute]}]; merge"
            c.add(f"{p}.attribute", reason)
        seen.setdefault(attribute, i)
        points: dict[str, float] = {}
        for value, pts in (c.get(t, p, "points", "table") or {}).items():
            number = c.get({value: pts}, f"{p}.points", value, "num")
            points[value] = 0.0 if number is None else number
        ranges = _ranges(c, t, p)
        if "points" not in t and "ranges" not in t:
            c.add(p, f"fit rule for {attribute!r} needs points = {{...}} and/or ranges = [...]")
        rules.append(FitRule(attribute, points, ranges))
    return tuple(rules)


def read_disqualify(c: Checker, data: dict[str, Any]) -> tuple[DisqualifyRule, ...]:
    rules: list[DisqualifyRule] = []
    for i, t in enumerate(c.section(data, "disqualify")):
        p = f"disqualify[{i}]"
        c.unknown(t, p, KEYS["disqualify"])
        attribute = c.get(t, p, "attribute", "str", required=True) or ""
        values = c.get(t, p, "in", "strs", required=True)
        if values == ():
            c.add(f"{p}.in", "in must list at least one value")
        reason = c.get(t, p, "reason", "str") or ""
        rules.append(DisqualifyRule(attribute, values or (), reason))
    return tuple(rules)
