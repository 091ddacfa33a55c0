"""The entity page: score, tier, engagement and fit, every contribution with the
attribute behind each fit rule, the history chart at real times, rolled-up members,
and the account with its scores under the other profiles.
"""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import Response

from prioscore.clients.dashboard import params, views
from prioscore.clients.dashboard.rendering import client_of, render
from prioscore.clients.errors import NotFoundError
from prioscore.v1 import scoring_service_pb2 as scoring_pb

HISTORY_POINTS = 500


async def _maybe_entity(request: Request, entity_id: str) -> scoring_pb.GetEntityResponse | None:
    """The entity, or None when it is gone (an account erased since its member was)."""
    try:
        return await client_of(request).get_entity(entity_id, include_scores=True)
    except NotFoundError:
        return None


async def entity(request: Request) -> Response:
    client = client_of(request)
    entity_id = request.path_params["entity_id"]
    found = await client.get_entity(entity_id, include_scores=True, top_reasons=5)
    scored = [s.profile for s in found.scores]
    chosen = params.choice(request.query_params, "profile", scored, scored[0]) if scored else ""
    context: dict[str, object] = {"found": found, "chosen": chosen, "score": None}
    account_id = found.entity.account_id
    if chosen:
        explained, points = await asyncio.gather(
            client.score_entities(chosen, [entity_id], explain=True, top_reasons=5),
            client.history(entity_id, chosen, limit=HISTORY_POINTS),
        )
        score = explained[0]
        ids = [c.entity_id for c in score.top_contributors]
        members = await asyncio.gather(*(_maybe_entity(request, i) for i in ids))
        context.update(
            score=score,
            contributions=views.contribution_rows(score, found.entity),
            series=json.dumps(views.history_series(points)),
            history_points=len(points),
            members=list(zip(score.top_contributors, members, strict=True)),
        )
    context["account"] = await _maybe_entity(request, account_id) if account_id else None
    return await render(request, "entity.html", context)
