"""Templates, the shared client and the navigation every page carries.

The Jinja2 environment is built once per process from the package's templates/ folder
(package data), so the dashboard renders the same installed or from a checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from prioscore.clients.client import AsyncPrioscoreClient
from prioscore.clients.dashboard import views
from prioscore.v1 import types_pb2

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
TEMPLATES.env.filters["when"] = views.when
TEMPLATES.env.filters["finite"] = views.finite
TEMPLATES.env.globals["display"] = views.display_attributes
TEMPLATES.env.globals["FIT"] = types_pb2.CONTRIBUTION_KIND_FIT


def client_of(request: Request) -> AsyncPrioscoreClient:
    client: AsyncPrioscoreClient = request.app.state.client
    return client


async def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    """The page with the profile navigation (one ListProfiles call)."""
    profiles = await client_of(request).list_profiles()
    return TEMPLATES.TemplateResponse(
        request, template, {"profiles": profiles, **context}, status_code=status
    )


def message_page(request: Request, title: str, text: str, status: int) -> Response:
    """A page with only a message and no data (errors, missing auth): no API call."""
    return TEMPLATES.TemplateResponse(
        request, "message.html", {"title": title, "text": text, "profiles": []}, status_code=status
    )
