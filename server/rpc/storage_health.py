"""Health follows the storage: NOT_SERVING while the database cannot take writes.

A load balancer then sends traffic elsewhere, and an operator's probe shows the cause in
the log. The store calls the listener from whatever thread wrote (the listener hops onto
the server's loop); the next write that succeeds turns health back to SERVING.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from grpc_health.v1 import health_pb2

from prioscore.server.store import Store

log = logging.getLogger("prioscore.rpc")


def follow_storage(
    store: Store, health: Any, names: Sequence[str], loop: asyncio.AbstractEventLoop
) -> None:
    """Sets every service in `names` NOT_SERVING / SERVING as store writes fail / recover."""

    async def publish(status: int) -> None:
        for name in names:
            await health.set(name, status)

    def changed(failure: str) -> None:
        if failure:
            log.error("storage failing, health NOT_SERVING: %s", failure)
            status = health_pb2.HealthCheckResponse.NOT_SERVING
        else:
            log.warning("storage writes succeed again, health SERVING")
            status = health_pb2.HealthCheckResponse.SERVING
        loop.call_soon_threadsafe(lambda: loop.create_task(publish(status)))

    store.add_write_listener(changed)
