"""The profile pages: the index of profiles and one profile's ranked list.

A ranked page is one RankEntities page plus, per row, GetEntity for the attributes a
person recognises (name, e-mail). The tier counts and the score histogram come from
RankEntities' total_size under tier / min_score filters (no page reads every score);
those 13 counts cost several list pages on a big store, so they are a fragment of their
own (/profiles/NAME/population) that the page loads after it is shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from prioscore.clients.dashboard import params, views
from prioscore.clients.dashboard.rendering import TEMPLATES, client_of, render
from prioscore.v1 import profile_service_pb2 as profiles_pb

MAX_PAGE_SIZE = 200


async def index(request: Request) -> Response:
    return await render(request, "index.html", {})


async def _total(
    request: Request, profile: str, tiers: Sequence[str] = (), min_score: float | None = None
) -> int:
    page = await client_of(request).rank_page(
        profile, page_size=1, tiers=tiers, min_score=min_score, top_reasons=0
    )
    return page.total_size


async def distribution(
    request: Request, summary: profiles_pb.ProfileSummary
) -> tuple[list[views.Bar], list[views.Bar]]:
    """(tier bars, score histogram) over the profile's whole qualified population."""
    name = summary.name
    tiers = list(summary.tier_names)
    counts = await asyncio.gather(*(_total(request, name, tiers=[t]) for t in tiers))
    edges = views.histogram_edges()
    at_least = await asyncio.gather(*(_total(request, name, min_score=e) for e in edges))
    return views.bars(tiers, list(counts)), views.histogram(list(at_least))


async def ranked(request: Request) -> Response:
    client = client_of(request)
    name = request.path_params["name"]
    summary = (await client.get_profile(name)).profile
    query = request.query_params
    tiers = params.choices(query, "tier", list(summary.tier_names))
    account = params.text(query, "account")
    min_score = params.optional_number(query, "min_score", low=0, high=100)
    size = params.integer(
        query, "page_size", low=1, high=MAX_PAGE_SIZE, default=request.app.state.settings.page_size
    )
    token = params.text(query, "page", limit=2000)
    page = await client.rank_page(
        name,
        page_size=size,
        page_token=token,
        tiers=tiers,
        account_id=account,
        min_score=min_score,
        top_reasons=3,
    )
    entities = await asyncio.gather(*(client.get_entity(s.entity_id) for s in page.items))
    rows = list(zip(page.items, [e.entity for e in entities], strict=True))
    return await render(
        request,
        "ranked.html",
        {
            "summary": summary,
            "rows": rows,
            "page": page,
            "filters": {"tier": tiers, "account": account, "min_score": min_score, "size": size},
            "first": not token,
            "base_query": urlencode(
                [("tier", t) for t in tiers]
                + [("account", account), ("min_score", "" if min_score is None else min_score)]
                + [("page_size", size)]
            ),
        },
    )


async def population(request: Request) -> Response:
    """The tier counts and score histogram of a profile, as an HTML fragment."""
    summary = (await client_of(request).get_profile(request.path_params["name"])).profile
    tier_bars, histogram = await distribution(request, summary)
    context = {"tier_bars": tier_bars, "histogram": histogram}
    return TEMPLATES.TemplateResponse(request, "population.html", context)
