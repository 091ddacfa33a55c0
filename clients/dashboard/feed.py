"""The live feed: tier changes as server-sent events, from WatchTierChanges.

One SSE stream is one watch, filtered on the server (profile, tier, account). Each event
carries the change_id as its SSE id, so the browser's automatic reconnect (which sends
Last-Event-ID) resumes the watch after the last change it showed: no gap, no repeat.
A stream lives `watch_seconds` and then ends cleanly; the browser reconnects.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from prioscore.clients.dashboard import params, views
from prioscore.clients.dashboard.rendering import client_of, render
from prioscore.clients.errors import PrioscoreClientError
from prioscore.v1 import types_pb2

CAUSES = {
    value: name.removeprefix("TIER_CHANGE_CAUSE_").lower()
    for name, value in types_pb2.TierChangeCause.items()
}


def change_record(change: types_pb2.TierChange) -> dict[str, object]:
    return {
        "change_id": change.change_id,
        "entity_id": change.entity_id,
        "profile": change.profile,
        "from": change.previous_tier or "—",
        "to": change.tier or "disqualified",
        "score": round(change.score, 1),
        "account_id": change.account_id,
        "cause": CAUSES.get(change.cause, "unspecified"),
        "message_id": change.cause_message_id,
        "time": views.when(change.time),
    }


@dataclass(frozen=True)
class FeedFilter:
    """What the watch asks the server for; known_tiers are the form's choices."""

    profile: str
    tiers: list[str]
    account: str
    known_tiers: list[str]


async def _filters(request: Request) -> FeedFilter:
    query = request.query_params
    loaded = await client_of(request).list_profiles()
    profile = params.choice(query, "profile", ["", *(p.name for p in loaded)], "")
    known = sorted({t for p in loaded for t in p.tier_names if not profile or p.name == profile})
    tiers = params.choices(query, "tier", known)
    return FeedFilter(profile, tiers, params.text(query, "account"), known)


async def feed(request: Request) -> Response:
    return await render(request, "feed.html", {"filters": await _filters(request)})


async def events(request: Request) -> Response:
    """The SSE stream; an error (e.g. auth) is sent as a `failure` event, then it ends."""
    wanted = await _filters(request)
    resume = request.headers.get("last-event-id", "")
    after = int(resume) if resume.isdigit() else None
    client = client_of(request)

    async def stream() -> AsyncIterator[str]:
        yield "event: ready\ndata: {}\n\n"
        try:
            async for change in client.watch(
                profile=wanted.profile,
                tiers=wanted.tiers,
                account_id=wanted.account,
                duration=request.app.state.settings.watch_seconds,
                after_change_id=after,
            ):
                data = json.dumps(change_record(change))
                yield f"id: {change.change_id}\nevent: change\ndata: {data}\n\n"
        except PrioscoreClientError as error:
            yield f"event: failure\ndata: {json.dumps(str(error))}\n\n"

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
