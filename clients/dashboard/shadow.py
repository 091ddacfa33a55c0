"""The shadow comparison: when a candidate is staged for a profile, how its ranking
differs from the active one (top-K overlap, rank correlation) and who moves tier.

CompareProfiles needs the admin scope; a dashboard token without it gets the same
clear 403 page as any other missing permission.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from prioscore.clients.dashboard import params
from prioscore.clients.dashboard.rendering import client_of, render

MOVERS = 50


async def shadow(request: Request) -> Response:
    client = client_of(request)
    name = request.path_params["name"]
    summary = (await client.get_profile(name)).profile
    k = params.integer(request.query_params, "k", low=1, high=1000, default=50)
    context: dict[str, object] = {"summary": summary, "comparison": None, "k": k}
    if summary.shadow_version:
        context["comparison"] = await client.compare(
            name, candidate_shadow=True, k=k, page_size=MOVERS
        )
    return await render(request, "shadow.html", context)
