"""The at-risk view for customer success: entities at risk or worse under a churn
profile, highest first, with top reasons, a trend over a real window (the same rules as
`prioscore at-risk`, from prioscore.clients.trends), a sparkline and days in tier."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from prioscore.clients.dashboard import params, views
from prioscore.clients.dashboard.rendering import client_of, render
from prioscore.clients.trends import Trend, risky_tiers, seconds, trend_of
from prioscore.v1 import types_pb2

DEFAULT_PROFILE = "churn_risk"
HISTORY_POINTS = 500


@dataclass(frozen=True)
class AtRiskRow:
    score: types_pb2.Score
    entity: types_pb2.Entity
    trend: Trend
    sparkline: str
    days_in_tier: float | None


async def _row(
    request: Request, profile: str, score: types_pb2.Score, days: float, threshold: float
) -> AtRiskRow:
    client = client_of(request)
    found, points = await asyncio.gather(
        client.get_entity(score.entity_id),
        client.history(score.entity_id, profile, limit=HISTORY_POINTS),
    )
    now = seconds(score.update_time)  # the server's time, not this machine's
    return AtRiskRow(
        score,
        found.entity,
        trend_of(points, now=now, days=days, threshold=threshold),
        views.sparkline(points),
        views.days_in_tier(points, now),
    )


async def at_risk(request: Request) -> Response:
    client = client_of(request)
    query = request.query_params
    loaded = [p.name for p in await client.list_profiles()]
    default = DEFAULT_PROFILE if DEFAULT_PROFILE in loaded else loaded[0]
    profile = params.choice(query, "profile", loaded, default)
    days = params.number(query, "days", low=1, high=365, default=30.0)
    threshold = params.number(query, "threshold", low=0, high=100, default=2.0)
    account = params.text(query, "account")
    size = params.integer(
        query, "page_size", low=1, high=200, default=request.app.state.settings.page_size
    )
    summary = (await client.get_profile(profile)).profile
    tiers = risky_tiers(summary.tier_names)
    page = await client.rank_page(
        profile, page_size=size, tiers=tiers, account_id=account, top_reasons=3
    )
    rows = await asyncio.gather(*(_row(request, profile, s, days, threshold) for s in page.items))
    return await render(
        request,
        "at_risk.html",
        {
            "summary": summary,
            "tiers": tiers,
            "rows": rows,
            "total": page.total_size,
            "filters": {"days": days, "threshold": threshold, "account": account, "size": size},
        },
    )
