"""Shared parts of the service benchmarks (bench/service_*.py): the server process, the
synthetic events, and the driver that runs figure groups with their anchors.

Every server is a separate process (`bench/_service_common.py --serve`, bound to
127.0.0.1:0) built with `start_server` plus a generic echo handler (`/bench.Echo/Unary`,
`/bench.Echo/Stream`) on the SAME server, so the echo anchors pass through the same
interceptors. The client runs in the bench's process, so client and server never share
a GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import info

from prioscore.server.profiles import bundled
from prioscore.v1 import event_service_pb2, event_service_pb2_grpc, types_pb2

ROOT = Path(__file__).resolve().parent.parent
PROFILES = bundled.DIRECTORY
ECHO_UNARY = "/bench.Echo/Unary"
ECHO_STREAM = "/bench.Echo/Stream"
SERVER_MAX_SECONDS = 600  # a server process never outlives this, whatever happens here
N_SIGNALS_BULK = 32
NOW = time.time()
DAY = 86_400.0


# ============================================================================ server side


def _echo_handler() -> grpc.GenericRpcHandler:
    """Echo methods on raw bytes (no (de)serialisation); registered on the real server."""

    async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    async def stream(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        # Reply with the response size the client asks for (that of a StreamScores
        # response), so the anchor moves the same bytes both ways as the scored stream.
        size = None
        for key, value in context.invocation_metadata() or ():
            if key == "x-resp-size":
                size = int(value)
        async for request in requests:
            yield request if size is None else request[:size]

    return grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.stream_stream_rpc_method_handler(stream),
        },
    )


def serve(db: str, profiles: str, profile_out: str | None, settle: bool = False) -> None:
    """`--serve` mode: start the real server (+ echo), print its port, run until told.
    `settle`: print the port only once the clock's catch-up sweep is written, so a bench
    over a prefilled store measures its figures, not the start-up rescoring."""
    import logging

    from prioscore.server.config import Settings
    from prioscore.server.handlers import build_handlers
    from prioscore.server.profiles import ProfileRegistry
    from prioscore.server.rpc.server import (
        freeze_startup_heap,
        shorten_gil_turns,
        space_out_full_collections,
        start_server,
    )
    from prioscore.server.store import Store

    logging.basicConfig(level=logging.WARNING)
    settings = Settings(address="127.0.0.1:0", db=Path(db), profiles=Path(profiles))

    async def run() -> None:
        handlers = build_handlers(
            Store(settings.db),
            ProfileRegistry.from_directory(settings.profiles),
            limits=settings.limits,
        )
        running = await start_server(handlers, settings, extra_handlers=[_echo_handler()])
        if settle:
            await asyncio.to_thread(handlers.settle, SERVER_MAX_SECONDS / 2)
        freeze_startup_heap()  # as the serving process does (run_until_signalled)
        space_out_full_collections()
        shorten_gil_turns()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        loop.add_reader(sys.stdin.fileno(), stop.set)  # parent gone or closed our stdin
        loop.call_later(SERVER_MAX_SECONDS, stop.set)
        print(f"PORT {running.port}", flush=True)
        await stop.wait()
        await running.stop(0.5)
        handlers.close()

    if profile_out:
        Path(profile_out).parent.mkdir(parents=True, exist_ok=True)
        import cProfile

        _profile_threads(profile_out)
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            asyncio.run(run())
        finally:
            profiler.disable()
            profiler.dump_stats(profile_out)
    else:
        asyncio.run(run())


def _profile_threads(profile_out: str) -> None:
    """Profiles every thread the server starts (the writer, the clock) as well as the
    loop, each into `<profile_out>.<thread name>`: the loop's profile alone shows the
    loop idle while the writer is the bottleneck."""
    import cProfile
    import threading

    original = threading.Thread.run

    def run(thread: threading.Thread) -> None:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            original(thread)
        finally:
            profiler.disable()
            profiler.dump_stats(f"{profile_out}.{thread.name}")

    threading.Thread.run = run  # type: ignore[method-assign]


class ServerProcess:
    """A server child process on 127.0.0.1; stop() ends exactly that process."""

    def __init__(
        self,
        name: str,
        profiles: Path,
        workdir: Path,
        profile_dir: str | None,
        *,
        settle: bool = False,
        start_timeout: float = 60.0,
    ):
        """`settle`: wait for the clock's catch-up sweep (see serve); a store prefilled
        at workdir/<name>.db is served as it is."""
        self.name = name
        db = workdir / f"{name}.db"
        args = [sys.executable, __file__, "--serve", "--db", str(db), "--profiles", str(profiles)]
        if profile_dir:
            args += ["--profile-out", str(Path(profile_dir) / f"server-{name}.prof")]
        if settle:
            args.append("--settle")
        self.db = db
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = self._read_port(timeout=start_timeout)

    def _read_port(self, timeout: float) -> int:
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                line = self.proc.stdout.readline()
                if not line:
                    break
                if line.startswith("PORT "):
                    return int(line.split()[1])
        self.stop()
        raise RuntimeError(f"server {self.name} did not start")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ============================================================================ data


def bulk_profile_toml(n: int = N_SIGNALS_BULK) -> str:
    lines = [
        "[profile]",
        'name = "bench32"',
        "version = 1",
        'entity = "bench_entity"',
        'description = "Synthetic 32-signal profile for the service benchmarks"',
        "",
    ]
    for i in range(n):
        lines += [
            "[[signals]]",
            f'name = "s{i:02d}"',
            f'event = "ev{i:02d}"',
            'aggregate = "count"',
            f"weight = {1 + i % 5}",
            "cap = 10",
            "",
        ]
    lines += ["[tiers]", "cold = 0", "warm = 40", "hot = 70", ""]
    return "\n".join(lines)


_URLS = ["/pricing", "/pricing/enterprise", "/docs/start", "/case-studies/acme", "/blog/x", "/demo"]
_FORMS = ["demo_request", "content_download", "newsletter_signup"]


def make_events(
    n: int,
    n_entities: int,
    kind: str,
    prefix: str,
    seed: int,
    ts_now: bool = False,
    entity_prefix: str = "",
) -> list[types_pb2.Event]:
    """Lead-qualification-like track events with unique message ids (prefix-i) for
    entities entity_prefix-e0 .. e{n_entities - 1}."""
    entity_prefix = entity_prefix or prefix
    rng = np.random.default_rng(seed)
    ents = rng.integers(0, n_entities, size=n)
    what = rng.random(n)
    urls = rng.integers(0, len(_URLS), size=n)
    forms = rng.integers(0, len(_FORMS), size=n)
    ages = rng.uniform(0, 90, size=n) * DAY
    secs = rng.uniform(5, 300, size=n).round(1)
    clicks = rng.integers(0, 10, size=n)
    out = []
    track = types_pb2.EVENT_KIND_TRACK
    for i in range(n):
        e = types_pb2.Event(
            message_id=f"{prefix}-{i}",
            kind=track,
            entity_id=f"{entity_prefix}-e{ents[i]}",
            entity_kind=kind,
        )
        w = what[i]
        if w < 0.65:
            e.event = "page_view"
            e.properties["url"] = _URLS[urls[i]]
            e.metrics["clicks"] = float(clicks[i])
            e.value = float(secs[i])
        elif w < 0.85:
            e.event = "email_click"
            e.properties["campaign"] = "c1"
        elif w < 0.95:
            e.event = "form_submit"
            e.properties["form"] = _FORMS[forms[i]]
        else:
            e.event = "webinar_attended"
        if not ts_now:
            e.time.FromNanoseconds(int((NOW - ages[i]) * 1e9))
        out.append(e)
    return out


def batches_of(
    events: list[types_pb2.Event], size: int
) -> list[event_service_pb2.IngestEventsRequest]:
    return [
        event_service_pb2.IngestEventsRequest(events=events[i : i + size])
        for i in range(0, len(events), size)
    ]


def ingest_once(target: str, requests: list[Any], max_seconds: float = 120.0) -> tuple[float, Any]:
    """(seconds, IngestEventsResponse) of one IngestEvents stream; stops offering batches
    after max_seconds (the server still finishes what it was sent: see `accepted`)."""

    def offered() -> Any:
        deadline = time.perf_counter() + max_seconds
        for request in requests:
            if time.perf_counter() > deadline:
                return
            yield request

    with grpc.insecure_channel(target) as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        start = time.perf_counter()
        response = stub.IngestEvents(offered(), timeout=max_seconds + 120)
        return time.perf_counter() - start, response


# ============================================================================ driver


@dataclass(frozen=True)
class Run:
    """What a figure group gets: the figures asked for, a scratch directory holding a
    copy of profiles/ plus bench32.toml, the size switch and the cProfile directory."""

    only: frozenset[str]
    workdir: Path
    profiles: Path
    quick: bool
    profile_dir: str | None


@dataclass(frozen=True)
class Group:
    """A figure group: the figure names it prints (as --only spells them) and its runner."""

    figures: tuple[str, ...]
    run: Callable[[Run], None]


def main(script: str, doc: str, groups: Sequence[Group]) -> None:
    """Command line of every service bench: `--serve` (the server child), else run each
    group whose figures intersect --only, in order, in one scratch directory."""
    names = [f for g in groups for f in g.figures]
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--profiles", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    parser.add_argument("--settle", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", default=",".join(names), help="comma-separated figures")
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke test)")
    parser.add_argument("--profile-server", metavar="DIR", help="cProfile every server into DIR")
    args = parser.parse_args()
    if args.serve:
        serve(args.db, args.profiles, args.profile_out, args.settle)
        return

    only = frozenset(s.strip().upper() for s in args.only.split(",") if s.strip())
    unknown = sorted(only - {n.upper() for n in names})
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; this bench has {', '.join(names)}")
    workdir = Path(tempfile.mkdtemp(prefix="prioscore-bench-"))
    started = time.perf_counter()
    try:
        profiles = workdir / "profiles"
        shutil.copytree(PROFILES, profiles)
        (profiles / "bench32.toml").write_text(bulk_profile_toml())
        print(
            f"{script}: grpcio {grpc.__version__}, numpy {np.__version__}, "
            f"{os.cpu_count()} cpus; server in its own process, client here",
            flush=True,
        )
        run = Run(only, workdir, profiles, args.quick, args.profile_server)
        for group in groups:
            if only & {f.upper() for f in group.figures}:
                group.run(run)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info("total", f"{time.perf_counter() - started:.1f}s")


if __name__ == "__main__":  # the server child of ServerProcess
    main("bench/_service_common.py", __doc__ or "", ())
