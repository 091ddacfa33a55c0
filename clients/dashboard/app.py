"""The dashboard as an ASGI app: routes, the one shared gRPC client, and error pages.

Read-only: every route is a GET that turns into read RPCs. The client is opened in the
app's lifespan (grpc.aio channels belong to the running loop) with the token the
dashboard was given, and closed on shutdown. Failures become pages that say what to
do — a bad query parameter a 400 naming it, a server that wants a token a 401 that
shows nothing else — never a traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from prioscore.clients.client import AsyncPrioscoreClient
from prioscore.clients.dashboard import atrisk, entity, feed, ranked, shadow
from prioscore.clients.dashboard.params import BadParameter
from prioscore.clients.dashboard.rendering import HERE, message_page
from prioscore.clients.dashboard.settings import DashboardSettings
from prioscore.clients.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PrioscoreClientError,
    UnauthenticatedError,
)

# Server field names that come straight from a query parameter of the same page.
_FIELD_PARAMS = {"page_token": "page", "tiers": "tier", "min_score": "min_score"}


async def _bad_parameter(request: Request, error: Exception) -> Response:
    return message_page(request, "Bad request", str(error), 400)


async def _client_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, PrioscoreClientError)
    if isinstance(error, UnauthenticatedError):
        text = (
            "This prioscore server requires a bearer token and the dashboard has none (or an"
            " unknown one). Start it with --token or PRIOSCORE_TOKEN set to a token with the"
            " score:read scope."
        )
        return message_page(request, "Token required", text, 401)
    if isinstance(error, PermissionDeniedError):
        text = f"The dashboard's token may not read this: {error.message}."
        return message_page(request, "Not allowed", text, 403)
    if isinstance(error, NotFoundError):
        return message_page(request, "Not found", error.message, 404)
    if isinstance(error, InvalidArgumentError):
        named = [
            f"{_FIELD_PARAMS.get(v.field, v.field)}: {v.description}" for v in error.violations
        ]
        return message_page(request, "Bad request", "; ".join(named) or error.message, 400)
    return message_page(request, "Server unavailable", str(error), 502)


def create_app(settings: DashboardSettings) -> Starlette:
    """The dashboard for one prioscore server (settings.target, with settings.token)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = AsyncPrioscoreClient(
            settings.target, token=settings.token, timeout=settings.timeout
        )
        app.state.client = client
        app.state.settings = settings
        try:
            yield
        finally:
            await client.close()

    routes = [
        Route("/", ranked.index),
        Route("/profiles/{name}", ranked.ranked),
        Route("/profiles/{name}/shadow", shadow.shadow),
        Route("/profiles/{name}/population", ranked.population),
        Route("/entities/{entity_id:path}", entity.entity),
        Route("/at-risk", atrisk.at_risk),
        Route("/feed", feed.feed),
        Route("/feed/events", feed.events),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            BadParameter: _bad_parameter,
            PrioscoreClientError: _client_error,
        },
    )
