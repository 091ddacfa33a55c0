"""The customer-success at-risk report: who is at risk, why, and which way it is going.

"Which way" comes from the stored score history: the current score against the score
`days` ago (the newest point at or before that time; the oldest point when the history
is younger). A move of at least `threshold` points is rising/falling, less is flat —
small wobbles from decay alone should not read as a trend.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from prioscore.clients.sync import PrioscoreClient
from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import types_pb2

AT_RISK_NAMES = ("at_risk", "at-risk", "atrisk")


@dataclass(frozen=True)
class Trend:
    direction: str  # rising | falling | flat
    delta: float  # current - baseline, in score points
    baseline: float
    points: int  # history points looked at


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
    """Trend from newest-first history points (see module docstring)."""
    if not points:
        return Trend("flat", 0.0, 0.0, 0)
    current = points[0].score
    cutoff = now - days * 86_400.0
    baseline = points[-1].score
    for point in points:
        if point.time.seconds + point.time.nanos / 1e9 <= cutoff:
            baseline = point.score
            break
    delta = current - baseline
    direction = "rising" if delta >= threshold else "falling" if delta <= -threshold else "flat"
    return Trend(direction, delta, baseline, len(points))


def at_risk(
    client: PrioscoreClient,
    profile: str,
    *,
    tiers: Sequence[str] | None = None,
    account_id: str = "",
    limit: int | None = 50,
    days: float = 30.0,
    threshold: float = 2.0,
    history_points: int = 500,
) -> tuple[list[str], list[AtRisk]]:
    """(tiers used, entities in those tiers highest score first, each with its trend)."""
    if tiers is None:
        tiers = risky_tiers(client.get_profile(profile).profile.tier_names)
    ranked = client.rank(
        profile, limit=limit, tiers=list(tiers), account_id=account_id, top_reasons=3
    )
    now = time.time()
    found = []
    for score in ranked:
        points = client.history(score.entity_id, profile, limit=history_points)
        found.append(AtRisk(score, trend_of(points, now=now, days=days, threshold=threshold)))
    return list(tiers), found
