"""The customer-success at-risk report: who is at risk, why, and which way it is going.

The trend rules live in the library (prioscore.clients.trends), shared with the
dashboard; this module only walks the ranked entities with the sync client.
"""

from __future__ import annotations

from collections.abc import Sequence

from prioscore.clients.sync import PrioscoreClient
from prioscore.clients.trends import AtRisk, risky_tiers, seconds, trend_of


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
    found = []
    for score in ranked:
        points = client.history(score.entity_id, profile, limit=history_points)
        now = seconds(score.update_time)  # the server's time, not this machine's
        found.append(AtRisk(score, trend_of(points, now=now, days=days, threshold=threshold)))
    return list(tiers), found
