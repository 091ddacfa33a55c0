"""The per-profile feature plan: what compute_features derives from the profile alone.

Validates each signal's aggregate and parameters once and groups signals by (event type,
`match` filter, repeat thinning): signals of one group share one event selection
(engine.selection). Also
prepares the category lookups per filter (the small-batch recipe is engine.small_batch's).
Built once per Profile object and cached by engine.plans, so requests skip all of it.
"""

from __future__ import annotations

import numpy as np

from prioscore.server.engine.model import SECONDS_PER_DAY, Aggregate, Profile, Signal
from prioscore.server.engine.plans import profile_plan
from prioscore.server.engine.steps import MatchFilter, SignalStep
from prioscore.server.engine.vocabulary import VocabCache


class FeaturePlan:
    """Everything compute_features derives from the profile alone, built once per Profile
    object (engine.plans): validated aggregates and parameters, the (event type, match)
    groups that share a selection, category lookups per match and the rules per
    property. It holds no reference to the Profile (the cache entry must not keep it
    alive)."""

    def __init__(self, profile: Profile) -> None:
        rules = profile.categories
        self.categories = rules
        by_property: dict[str, list[int]] = {}
        for i, rule in enumerate(rules):
            by_property.setdefault(rule.property, []).append(i)
        self.rules_by_property = tuple((p, tuple(ix)) for p, ix in by_property.items())
        self.eliminatory = tuple(i for i, r in enumerate(rules) if r.eliminatory)
        self.eliminatory_lookup = np.zeros(len(rules) + 1, dtype=bool)
        self.eliminatory_lookup[list(self.eliminatory)] = True
        groups: dict[tuple[str, MatchFilter, int, str], int] = {}
        self.category_lookups: dict[tuple[str, ...], np.ndarray] = {}
        steps = []
        for signal in profile.signals:
            if signal.reads_scores:
                steps.append(SignalStep(None, -1, 0.0, float(signal.missing)))
                continue
            agg = Aggregate(signal.aggregate)
            param = 0.0
            if agg in (Aggregate.DECAYED_COUNT, Aggregate.DECAYED_SUM):
                param = _require(signal.half_life_days, "half_life_days", signal)
            elif agg in (Aggregate.WINDOW_COUNT, Aggregate.WINDOW_SUM, Aggregate.TREND):
                param = _require(signal.window_days, "window_days", signal) * SECONDS_PER_DAY
            elif agg not in _EVENT_AGGREGATES:
                raise ValueError(f"signal {signal.name!r}: unknown aggregate {signal.aggregate!r}")
            match = tuple(sorted((k, tuple(sorted(v))) for k, v in signal.match.items()))
            for key, values in match:
                if key == "category" and values not in self.category_lookups:
                    names = set(values)
                    lookup = np.zeros(len(rules) + 1, dtype=bool)
                    lookup[:-1] = [rule.name in names for rule in rules]
                    self.category_lookups[values] = lookup
            group_key = (signal.event, match, signal.per_day, signal.once_per)
            group = groups.setdefault(group_key, len(groups))
            volume = float(signal.min_volume)
            steps.append(SignalStep(agg, group, param, float(signal.missing), volume))
        self.steps = tuple(steps)
        # (event type, match) per group; thinning[g] = (per_day, once_per) of group g,
        # None when its events are not thinned (engine.repeats).
        self.groups = tuple((event, match) for event, match, _, _ in groups)
        self.thinning = tuple(
            (per_day, once_per) if per_day or once_per else None
            for _, _, per_day, once_per in groups
        )
        self.vocabularies = VocabCache()


def feature_plan_of(profile: Profile) -> FeaturePlan:
    return profile_plan(profile, "features", FeaturePlan)


def _require(value: float | None, what: str, signal: Signal) -> float:
    if value is None or not value > 0:
        raise ValueError(f"signal {signal.name!r}: {signal.aggregate} needs {what} > 0")
    return float(value)


_EVENT_AGGREGATES = frozenset(
    {
        Aggregate.COUNT,
        Aggregate.EXISTS,
        Aggregate.SUM,
        Aggregate.DECAYED_COUNT,
        Aggregate.DECAYED_SUM,
        Aggregate.WINDOW_COUNT,
        Aggregate.WINDOW_SUM,
        Aggregate.TREND,
        Aggregate.DAYS_SINCE_LAST,
        Aggregate.DAYS_SINCE_FIRST,
        Aggregate.DISTINCT_DAYS,
        Aggregate.DENSITY,
        Aggregate.DEADLINE_ELAPSED,
    }
)
