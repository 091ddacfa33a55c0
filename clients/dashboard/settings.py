"""How the dashboard reaches the server and where it listens."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ADDRESS = "127.0.0.1:8765"


@dataclass(frozen=True)
class DashboardSettings:
    """target: the prioscore gRPC server; token: the bearer token passed on with every
    call (None when the server needs none); timeout: each call's deadline in seconds;
    page_size: rows per ranked page unless the page asks for another."""

    target: str
    token: str | None = None
    timeout: float = 10.0
    page_size: int = 25
    watch_seconds: float = 300.0  # one SSE stream's life; the browser reconnects after


def split_address(address: str) -> tuple[str, int]:
    """'host:port' -> (host, port); ValueError naming what is wrong."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"address must be host:port, got {address!r}")
    return host.strip("[]"), int(port)
