"""One signal's work as the feature plan decides it: shared by the plan and the folds.

A leaf module so that feature_plan, aggregates and small_batch can all name these types
without importing one another.
"""

from __future__ import annotations

from typing import NamedTuple

from prioscore.server.engine.model import Aggregate

MatchFilter = tuple[tuple[str, tuple[str, ...]], ...]  # a signal's match filter, sorted


class SignalStep(NamedTuple):
    """One signal's work, decided from the profile once (see FeaturePlan)."""

    aggregate: Aggregate | None  # None: a score signal, filled by the caller
    group: int  # index into FeaturePlan.groups (-1 for score signals)
    param: float  # decayed: half-life in days; windowed: window width in seconds
    missing: float
    volume: float = 0.0  # trend: min_volume (recent + prior events below it read 0)


__all__ = ["MatchFilter", "SignalStep"]
