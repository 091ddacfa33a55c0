"""Shared fixtures: a real prioscore gRPC server on a loopback port with a real SQLite file.

The server runs its own asyncio loop in a background thread, so tests call it through
the generated (synchronous) stubs exactly as an external client would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from prioscore.server.clock import Clock
from prioscore.server.config import Settings
from prioscore.server.handlers import Service, build_handlers
from prioscore.server.profiles import ProfileRegistry, bundled
from prioscore.server.rpc.server import RunningServer, start_server
from prioscore.server.store import Store
from tests.scenarios.world import World

ROOT = Path(__file__).resolve().parent.parent
PROFILES = bundled.DIRECTORY  # the bundled profiles, read from the package


@dataclass
class ServerHandle:
    """A running server: its address, its service (for white-box checks) and a channel."""

    running: RunningServer
    loop: asyncio.AbstractEventLoop
    db: Path
    profiles_dir: Path

    @property
    def target(self) -> str:
        return self.running.target

    @property
    def service(self) -> Service:
        return self.running.service

    @property
    def clock(self) -> Clock:
        """The server's clock: tests pin or advance it instead of sleeping."""
        return self.running.handlers.clock

    def settle(self) -> None:
        """Waits until the rescoring the clock made due is written (after moving it)."""
        assert self.running.handlers.settle(timeout=30), "the clock's sweep did not finish"

    def call(self, fn: Callable[[], Any]) -> Any:
        """Runs fn on the server's loop thread (where the service lives) and returns its value."""
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as error:  # handed back to the test thread
                future.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.target)


@pytest.fixture
def start_grpc_server(tmp_path: Path) -> Iterator[Callable[..., ServerHandle]]:
    """Factory: start_grpc_server(profiles_dir=..., **settings) → a started ServerHandle
    (db=path puts the database elsewhere, e.g. on a small file system)."""
    started: list[tuple[ServerHandle, threading.Thread]] = []

    def start(profiles_dir: Path = PROFILES, **overrides: Any) -> ServerHandle:
        db = overrides.pop("db", tmp_path / f"prioscore-{len(started)}.db")
        settings = replace(
            Settings(address="127.0.0.1:0", db=db, profiles=profiles_dir), **overrides
        )
        loop = asyncio.new_event_loop()
        ready: Future[RunningServer] = Future()

        async def boot() -> None:
            try:
                registry = ProfileRegistry.from_directory(profiles_dir)
                handlers = build_handlers(
                    Store(db), registry, limits=settings.limits, kinds=settings.kinds
                )
                ready.set_result(await start_server(handlers, settings))
            except BaseException as error:
                ready.set_exception(error)

        def serve() -> None:
            asyncio.set_event_loop(loop)
            booting = loop.create_task(boot())
            loop.run_forever()
            booting.cancel()

        thread = threading.Thread(target=serve, name="prioscore-test-server", daemon=True)
        thread.start()
        running = ready.result(timeout=30)
        handle = ServerHandle(running, loop, db, profiles_dir)
        started.append((handle, thread))
        return handle

    yield start
    for handle, thread in started:
        stop = asyncio.run_coroutine_threadsafe(handle.running.stop(grace=1.0), handle.loop)
        stop.result(timeout=30)
        handle.loop.call_soon_threadsafe(handle.loop.stop)
        thread.join(timeout=30)
        handle.service.store.close()


@pytest.fixture
def grpc_server(start_grpc_server: Callable[..., ServerHandle]) -> ServerHandle:
    """The real server with the bundled profiles and a fresh SQLite file."""
    return start_grpc_server()


@pytest.fixture
def world(grpc_server: ServerHandle) -> Iterator[World]:
    """Textbook entities and behaviour sent to the real server, scores read back
    (tests/scenarios/world.py): the scenario suites and the profile contract use it."""
    w = World(grpc_server)
    yield w
    w.channel.close()
