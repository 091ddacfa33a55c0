"""Serving the Segment API with uvicorn on the event loop that serves gRPC.

Why on the same loop: the handlers are the same objects (Service, the writer), so an
HTTP request and a gRPC call wait on the writer alike, and shutdown is one sequence.
uvicorn's own signal handling is switched off: the composition root owns the signals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

log = logging.getLogger("prioscore.http")


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the gRPC side's run_until_signalled handles SIGTERM / SIGINT


@dataclass
class SegmentListener:
    """A started listener: where it listens, and how to stop it."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, timeout=10)


async def start_segment_listener(app: Starlette, address: str) -> SegmentListener:
    """Serves app on address ("127.0.0.1:8088"; port 0 picks one) until stop()."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    config = uvicorn.Config(
        app, host=host, port=int(port), lifespan="off", access_log=False, log_level="warning"
    )
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # a bind error surfaces here
            raise OSError(f"HTTP listener on {address} stopped while starting")
        await asyncio.sleep(0.01)
    bound = int(server.servers[0].sockets[0].getsockname()[1])
    log.info("Segment HTTP API on http://%s:%d/v1/", host, bound)
    return SegmentListener(server, task, host, bound)
