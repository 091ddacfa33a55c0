"""At-risk trends: which way an entity's score is going, over a real time window.

Shared by the `prioscore at-risk` report and the dashboard's at-risk view, so both read
a trend the same way.

"Which way" comes from the stored score history over a real time window: the current
score against the score `days` before the score's own time (the newest history point at
or before then). A move of at least `threshold` points is rising/falling, less is flat —
small wobbles from decay alone should not read as a trend. When the history does not yet
reach back `days`, the trend is "unknown" and says how much history there is, rather
than reading two points seconds apart as a surge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import types_pb2

AT_RISK_NAMES = ("at_risk", "at-risk", "atrisk")


@dataclass(frozen=True)
class Trend:
    direction: str  # rising | falling | flat | unknown (history shorter than the window)
    delta: float  # current - baseline, in score points (0 when unknown)
    baseline: float
    points: int  # history points looked at
    span_days: float = 0.0  # how far back the history reaches from the current score


@dataclass(frozen=True)
class AtRisk:
    score: types_pb2.Score
    trend: Trend


def risky_tiers(tier_names: Sequence[str]) -> list[str]:
    """The "at risk or worse" tiers: from a tier named at_risk upwards, else the top half."""
    names = list(tier_names)
    for i, name in enumerate(names):
        if name.lower() in AT_RISK_NAMES:
            return names[i:]
    return names[len(names) // 2 :]


def trend_of(
    points: Sequence[scoring_pb.ScoreHistoryPoint],
    *,
    now: float,
    days: float,
    threshold: float,
) -> Trend:
    """Trend from newest-first history points as of `now` (see module docstring)."""
    if not points:
        return Trend("unknown", 0.0, 0.0, 0)
    current = points[0].score
    cutoff = now - days * 86_400.0
    span = (now - seconds(points[-1].time)) / 86_400.0
    for point in points:
        if seconds(point.time) <= cutoff:
            delta = current - point.score
            direction = (
                "rising" if delta >= threshold else "falling" if delta <= -threshold else "flat"
            )
            return Trend(direction, delta, point.score, len(points), span)
    return Trend("unknown", 0.0, current, len(points), span)


def seconds(stamp: Timestamp) -> float:
    """A protobuf Timestamp as POSIX seconds."""
    return stamp.seconds + stamp.nanos / 1e9
