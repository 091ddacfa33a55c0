"""A signal's repeat caps and trend volume: per_day, once_per and min_volume.

A leaf beside profiles.check (which calls it for every event signal) so that module stays
the array-of-tables rules; the engine side is engine.repeats and engine.aggregates.
"""

from __future__ import annotations

from typing import Any, Protocol

from prioscore.server.engine import Aggregate


class Checker(Protocol):
    """What of profiles.check.Checker this uses (a Protocol: check imports this module)."""

    def add(self, path: str, reason: str, line: int | None = None) -> None: ...

    def get(
        self, table: dict[str, Any], path: str, key: str, kind: str, *, required: bool = False
    ) -> Any: ...


def read_repeats(
    c: Checker, t: dict[str, Any], p: str, aggregate: Aggregate | None
) -> tuple[int, str, float]:
    """per_day (an integer >= 1), once_per (a string property) and min_volume (trend only)."""
    per_day = t.get("per_day", 0)
    if "per_day" in t and (
        not isinstance(per_day, int) or isinstance(per_day, bool) or per_day < 1
    ):
        c.add(f"{p}.per_day", f"per_day must be an integer >= 1, got {_describe(per_day)}")
        per_day = 0
    once_per = c.get(t, p, "once_per", "str") or ""
    if "once_per" in t and not once_per:
        c.add(f"{p}.once_per", "once_per must name a string event property, e.g. 'campaign'")
    min_volume = c.get(t, p, "min_volume", "num") or 0.0
    if min_volume < 0:
        c.add(f"{p}.min_volume", f"min_volume must be >= 0, got {min_volume:g}")
    if "min_volume" in t and aggregate is not None and aggregate is not Aggregate.TREND:
        c.add(f"{p}.min_volume", "min_volume applies only to aggregate 'trend'; remove it")
    return int(per_day), once_per, max(min_volume, 0.0)


def _describe(value: Any) -> str:
    return f"the {type(value).__name__} {value!r}"


__all__ = ["read_repeats"]
