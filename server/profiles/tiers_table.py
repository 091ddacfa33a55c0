"""[tiers]: named tiers lowest first, as `name = threshold` pairs or names/thresholds lists,
absolute (0-100 scores) or quantile (population shares); grid tiers are
profiles.options.read_grid. Kept apart from profiles.loading so that stays the format's
entry point.
"""

from __future__ import annotations

import math
from typing import Any

from prioscore.server.engine import TierMode, Tiers
from prioscore.server.profiles.check import TIER_KEYS, Checker, describe, hint, is_number
from prioscore.server.profiles.options import read_grid


def read_tiers(c: Checker, data: dict[str, Any]) -> Tiers:
    """[tiers]: `name = threshold` pairs in file order, or explicit names/thresholds lists
    (grid mode: profiles.options.read_grid)."""
    t = c.section(data, "tiers", required=True)
    if t.get("mode") == TierMode.GRID.value:
        return read_grid(c, t, bool(data.get("fit")))
    modes = [m.value for m in TierMode]
    raw_mode = c.get(t, "tiers", "mode", "str") or "absolute"
    if raw_mode not in modes:
        c.add(
            "tiers.mode",
            f"unknown tier mode {raw_mode!r}{hint(raw_mode, modes)}; valid: {', '.join(modes)}",
        )
    mode = TierMode(raw_mode) if raw_mode in modes else TierMode.ABSOLUTE
    entries: list[tuple[str, str, Any]] = []  # (tier name, key path, raw threshold)
    if "names" in t or "thresholds" in t:
        c.unknown(t, "tiers", TIER_KEYS)
        names = c.get(t, "tiers", "names", "strs", required=True) or ()
        values = t.get("thresholds")
        if not isinstance(values, list):
            reason = f"thresholds must be an array of numbers, got {describe(values)}"
            c.add(
                "tiers.thresholds",
                "missing required key 'thresholds'" if values is None else reason,
            )
            values = []
        elif len(values) != len(names):
            c.add(
                "tiers.thresholds",
                f"{len(values)} thresholds for {len(names)} names; give one per tier",
            )
        entries = [
            (n, f"tiers.thresholds[{i}]", v)
            for i, (n, v) in enumerate(zip(names, values, strict=False))
        ]
        if len(set(names)) != len(names):
            c.add("tiers.names", "tier names must be unique")
        for name in set(names) & set(TIER_KEYS):
            c.add("tiers.names", f"{name!r} cannot be a tier name (it is a [tiers] key)")
    else:
        entries = [(n, f"tiers.{n}", v) for n, v in t.items() if n != "mode"]
        if any(not n.strip() for n, _, _ in entries):
            c.add("tiers", "tier names must not be empty")
    if not entries and isinstance(data.get("tiers"), dict):
        c.add("tiers", "define at least one tier, lowest first, e.g. cold = 0")
    thresholds: list[float] = []
    for name, path, value in entries:
        if not is_number(value) or not math.isfinite(value):
            suggestion = hint(name, TIER_KEYS) if path == f"tiers.{name}" else ""
            c.add(
                path,
                f"threshold of tier {name!r} must be a number, got {describe(value)}{suggestion}",
            )
            value = math.nan
        thresholds.append(float(value))
    _check_thresholds(c, mode, entries, thresholds)
    return Tiers(mode, tuple(e[0] for e in entries), tuple(thresholds))


def _check_thresholds(
    c: Checker, mode: TierMode, entries: list[tuple[str, str, Any]], thresholds: list[float]
) -> None:
    top = 100.0 if mode is TierMode.ABSOLUTE else 1.0
    scale = "scores on the 0-100 scale" if mode is TierMode.ABSOLUTE else "population shares 0-1"
    previous: tuple[str, float] | None = None
    for i, ((name, path, _), value) in enumerate(zip(entries, thresholds, strict=True)):
        if math.isnan(value):
            continue
        if not 0.0 <= value <= top:
            c.add(
                path,
                f"{mode.value} thresholds are {scale}; {name} = {value:g} is outside [0, {top:g}]",
            )
        if i == 0 and value != 0.0:
            c.add(
                path,
                "the first tier must start at the floor 0 so every score gets a tier; "
                f"got {name} = {value:g}",
            )
        if previous is not None and value <= previous[1]:
            c.add(
                path,
                "thresholds must ascend (tiers are listed lowest first): "
                f"{name} = {value:g} is not above {previous[0]} = {previous[1]:g}",
            )
        previous = (name, value)


__all__ = ["read_tiers"]
