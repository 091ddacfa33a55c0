"""Per-profile precomputation, built once per Profile object and reused by every request.

Scoring one entity is a few hundred microseconds of numpy calls; rebuilding the same
weight vectors, cap bounds, lookup tables and signal groupings from the profile on every
request was a third of it. A Profile is a frozen dataclass that is replaced, never
mutated, when profiles reload, so what depends on the profile alone is cached here under
the object's identity and dropped when the object is collected (weakref.finalize; the id
cannot be reused before that callback has run). Nothing that depends on a request's
events or attributes belongs here.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TypeVar

from prioscore.server.engine.model import Profile

T = TypeVar("T")

# id(profile) -> {plan kind: plan}; entries leave with their profile.
_plans: dict[int, dict[str, object]] = {}


def _forget(key: int) -> None:
    _plans.pop(key, None)


def profile_plan(profile: Profile, kind: str, build: Callable[[Profile], T]) -> T:
    """`build(profile)`, computed once per (profile object, kind). A build that raises
    caches nothing, so an invalid profile reports its error on every call."""
    key = id(profile)
    plans = _plans.get(key)
    if plans is None:
        fresh: dict[str, object] = {}
        plans = _plans.setdefault(key, fresh)
        if plans is fresh:  # the first thread to get here registers the clean-up
            weakref.finalize(profile, _forget, key)
    plan = plans.get(kind)
    if plan is None:
        plan = plans[kind] = build(profile)
    return plan  # type: ignore[return-value]


__all__ = ["profile_plan"]
