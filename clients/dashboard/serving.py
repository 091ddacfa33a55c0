"""Serving the app with uvicorn on one address (loopback by default)."""

from __future__ import annotations

import uvicorn

from prioscore.clients.dashboard.app import create_app
from prioscore.clients.dashboard.settings import DashboardSettings, split_address


def serve(settings: DashboardSettings, address: str) -> None:
    """Runs until interrupted; access lines stay off (the pages carry no secrets, but
    the terminal is for errors)."""
    host, port = split_address(address)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
