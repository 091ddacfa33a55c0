"""Query parameters, checked before any call: a bad one is a 400 naming it.

Every page reads its parameters through these helpers, so "min_score=abc" or
"page_size=0" never reaches the server as a confusing downstream error.
"""

from __future__ import annotations

import math

from starlette.datastructures import QueryParams


class BadParameter(ValueError):
    """A query parameter the page cannot use; the page answers 400 with this text."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def number(query: QueryParams, name: str, *, low: float, high: float, default: float) -> float:
    """A finite float within [low, high]; absent or empty gives `default`."""
    found = optional_number(query, name, low=low, high=high)
    return default if found is None else found


def optional_number(query: QueryParams, name: str, *, low: float, high: float) -> float | None:
    """A finite float within [low, high], or None when absent or empty."""
    text = query.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadParameter(name, f"not a number: {text!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadParameter(name, f"must be within {low:g}-{high:g}, got {text}")
    return value


def integer(query: QueryParams, name: str, *, low: int, high: int, default: int) -> int:
    """An integer within [low, high]; absent or empty gives `default`."""
    text = query.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadParameter(name, f"not a whole number: {text!r}") from None
    if not low <= value <= high:
        raise BadParameter(name, f"must be within {low}-{high}, got {value}")
    return value


def choices(query: QueryParams, name: str, allowed: list[str]) -> list[str]:
    """Repeated (or comma-separated) values, each one of `allowed`; empty ones dropped."""
    values = [v.strip() for raw in query.getlist(name) for v in raw.split(",") if v.strip()]
    for value in values:
        if value not in allowed:
            raise BadParameter(name, f"unknown {name} {value!r}; one of {', '.join(allowed)}")
    return values


def text(query: QueryParams, name: str, *, limit: int = 200) -> str:
    """A short free-text value (an id or a page token), stripped."""
    value = query.get(name, "").strip()
    if len(value) > limit:
        raise BadParameter(name, f"longer than {limit} characters")
    return value


def choice(query: QueryParams, name: str, allowed: list[str], default: str) -> str:
    """One value of `allowed`; absent or empty gives `default`."""
    value = query.get(name, "").strip() or default
    if value not in allowed:
        raise BadParameter(name, f"unknown {name} {value!r}; one of {', '.join(allowed)}")
    return value
