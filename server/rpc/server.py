"""Server lifecycle: build the grpc.aio server, serve, drain gracefully on SIGTERM/SIGINT.

Health (grpc.health.v1) and reflection are always on: orchestrators probe health and
grpcurl-style tools discover the API without the .proto files.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from prioscore.server.config import Settings
from prioscore.server.handlers import Handlers, Service
from prioscore.server.rpc.auth import (
    build_auth_interceptor,
    build_identity_interceptor,
    server_credentials,
    server_options,
)
from prioscore.server.rpc.ingest_offload import IngestOffload
from prioscore.server.rpc.inline_scoring import InlineScoring
from prioscore.server.rpc.interceptor import ErrorTranslationInterceptor
from prioscore.server.rpc.servicers import SERVICE_NAMES, add_servicers
from prioscore.server.rpc.storage_health import follow_storage

log = logging.getLogger("prioscore.rpc")


@dataclass
class RunningServer:
    """A started server and what a caller needs to reach and stop it."""

    server: grpc.aio.Server
    port: int
    health: Any  # grpc_health.v1.health.aio.HealthServicer (untyped in grpcio)
    handlers: Handlers
    inline: InlineScoring
    ingest: IngestOffload

    @property
    def service(self) -> Service:
        return self.handlers.service

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self, grace: float | None = 5.0) -> None:
        """Stops accepting calls, lets in-flight ones finish within `grace`, then ends."""
        await self.health.enter_graceful_shutdown()
        self.handlers.service.close_watches()
        await self.server.stop(grace)
        await asyncio.to_thread(self.inline.close)  # no call is left: the workers end
        await asyncio.to_thread(self.ingest.close)
        # In-flight calls are done: stop the clock and let the writer finish its queue.
        await asyncio.to_thread(self.handlers.stop, grace or 1.0)


async def start_server(
    handlers: Handlers,
    settings: Settings,
    *,
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
) -> RunningServer:
    """Builds and starts the server on settings.address (port 0 picks a free port)."""
    # The error/telemetry interceptor is outermost, so calls the auth interceptor rejects
    # still get a span and a duration point with their status; auth runs before any
    # servicer, so a rejected call never reaches one.
    auth = build_auth_interceptor(settings)
    interceptors: list[grpc.aio.ServerInterceptor] = [
        ErrorTranslationInterceptor(settings.limits, settings.stream_idle_seconds)
    ]
    if auth is not None:
        interceptors.append(auth)
    identity = build_identity_interceptor(settings)
    if identity is not None:
        interceptors.append(identity)
    interceptors.extend(extra_interceptors)
    options = server_options(settings)
    server = grpc.aio.server(interceptors=interceptors, options=options)
    inline, ingest = add_servicers(server, handlers, settings)
    if extra_handlers:  # e.g. the benchmark's echo method, served by the same stack
        server.add_generic_rpc_handlers(tuple(extra_handlers))
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    credentials = server_credentials(settings)
    if credentials is None:
        port = server.add_insecure_port(settings.address)
    else:
        port = server.add_secure_port(settings.address, credentials)
    if port == 0:
        raise OSError(f"could not bind {settings.address}")
    await ingest.start()  # ingest's workers ready before the first stream
    await server.start()
    handlers.start(asyncio.get_running_loop())
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    follow_storage(
        handlers.service.store, health_servicer, ("", *SERVICE_NAMES), asyncio.get_running_loop()
    )
    log.info("prioscore serving on %s (port %d)", settings.address, port)
    return RunningServer(server, port, health_servicer, handlers, inline, ingest)


def freeze_startup_heap() -> None:
    """Moves every object alive after start-up (modules, the profiles, the live state's
    vocabularies) out of the cyclic garbage collector's view (gc.freeze): they live as
    long as the process, and each full collection scanned all of them on whichever
    thread allocated at that moment: measured ~50 ms per gen-2 pass in an ingest
    harness, a pause on the writer or on the loop. Called once, by the serving process."""
    gc.collect()
    gc.freeze()


# The cyclic collector's thresholds (CPython's default: 700, 10, 10): young collections
# as usual, but a full one only after 1,000 collections of the middle generation, not 10.
COLLECTOR_THRESHOLDS = (700, 10, 1000)


def space_out_full_collections() -> None:
    """Sets the collector's thresholds to COLLECTOR_THRESHOLDS for this process. A full
    collection holds the GIL while it walks every tracked object outside the frozen
    start-up heap, and heavy work keeps hundreds of thousands of them alive at a time (a
    200k-row promotion: 45-103 ms per full collection, on the writer or the loop). With
    the heap frozen, CPython's rule that skips a full collection until the objects
    waiting for one reach a quarter of the old generation no longer holds them back:
    63 full collections over 3 ms in one bench/service_heavy.py promote run, 3 with
    these thresholds (probe p99 during the promotion / idle: 8.1x, 11.2x -> 5.7x, 4.4x).
    Cycles that outlive two young collections are found later: memory, not correctness.
    Called once, by the serving process."""
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


# Seconds a thread may hold the GIL while another waits for it (CPython's default: 5 ms).
SWITCH_INTERVAL_SECONDS = 0.0005


def shorten_gil_turns() -> None:
    """Sets the GIL's switch interval to SWITCH_INTERVAL_SECONDS for this process. The
    loop answers calls between the writer's and the converter's turns on the GIL, and one
    call needs the GIL a dozen times (after each epoll, each callback): at CPython's 5 ms
    a turn, a stored ScoreEntities waited out several turns while a big IngestEvents
    stream was written. Measured (bench/service_heavy.py --quick --kinds ingest, probe
    p99 during / idle): 53-70x at 5 ms, 8-14x at 0.5 ms; WatchTierChanges p99 at 10k
    events/s 433 -> 345 ms; ingest throughput within the bench's noise. Called once, by
    the serving process."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


async def run_until_signalled(handlers: Handlers, settings: Settings) -> None:
    """Serves until SIGTERM/SIGINT, then drains for settings.grace_seconds."""
    running = await start_server(handlers, settings)
    freeze_startup_heap()
    space_out_full_collections()
    shorten_gil_turns()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("draining for up to %.1fs", settings.grace_seconds)
    await running.stop(settings.grace_seconds)
