"""Benchmark: Segment HTTP /v1/batch ingest vs gRPC IngestEvents, the same events.

    .venv/bin/python bench/segment_http.py [--events N]

Anchor: gRPC IngestEvents of the same track events (typed Event messages, 500 per
message) into a fresh server. Figure: HTTP /v1/batch (500 Segment calls per request,
JSON over one keep-alive connection, translated by handlers.segment) into another fresh
server. Both rescore every touched entity under the bundled profiles. One run; the
figure is printed as events/s and as a ratio to the anchor.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import grpc

from prioscore.server.config import Settings
from prioscore.server.handlers import Handlers, build_handlers
from prioscore.server.http import segment_app, start_segment_listener
from prioscore.server.profiles import ProfileRegistry, bundled
from prioscore.server.rpc import start_server
from prioscore.server.store import Store
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc, types_pb2

BATCH = 500
T0 = 1_780_000_000.0
_KEPT: list[object] = []  # the servers live for the whole run (a dropped one stops)


def _serve(db: Path, with_http: bool) -> tuple[str, str, Handlers]:
    """A server on its own loop thread: (gRPC target, HTTP url, handlers)."""
    ready: Future[tuple[str, str, Handlers]] = Future()
    loop = asyncio.new_event_loop()

    async def boot() -> None:
        handlers = build_handlers(Store(db), ProfileRegistry.from_directory(bundled.DIRECTORY))
        handlers.clock.set(T0)
        running = await start_server(handlers, Settings(address="127.0.0.1:0", db=db))
        _KEPT.append(running)
        url = ""
        if with_http:
            listener = await start_segment_listener(
                segment_app(handlers.service, None), "127.0.0.1:0"
            )
            url = listener.url
            _KEPT.append(listener)
        ready.set_result((running.target, url, handlers))

    def run() -> None:
        asyncio.set_event_loop(loop)
        _KEPT.append(loop.create_task(boot()))
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    return ready.result(timeout=60)


def _calls(n: int) -> list[dict[str, object]]:
    return [
        {
            "type": "track",
            "userId": f"c{i % 2000}",
            "event": ("page_view", "form_submit", "email_click")[i % 3],
            "properties": {"url": "/pricing" if i % 5 == 0 else "/docs", "form": "demo_request"},
            "messageId": f"m{i}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 - i)),
        }
        for i in range(n)
    ]


def _grpc(target: str, calls: list[dict[str, object]]) -> float:
    events = [
        types_pb2.Event(
            message_id=str(c["messageId"]),
            kind=types_pb2.EVENT_KIND_TRACK,
            entity_id=str(c["userId"]),
            entity_kind="contact",
            event=str(c["event"]),
            properties=c["properties"],  # type: ignore[arg-type]
        )
        for c in calls
    ]
    for event, call in zip(events, calls, strict=True):
        event.time.FromJsonString(str(call["timestamp"]))
    with grpc.insecure_channel(target) as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        started = time.perf_counter()
        for i in range(0, len(events), BATCH):
            stub.IngestEvents(iter([ev.IngestEventsRequest(events=events[i : i + BATCH])]))
        return time.perf_counter() - started


def _http(url: str, calls: list[dict[str, object]]) -> float:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    bodies = [json.dumps({"batch": calls[i : i + BATCH]}) for i in range(0, len(calls), BATCH)]
    started = time.perf_counter()
    for body in bodies:
        connection.request("POST", "/v1/batch", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    calls = _calls(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        target, _, grpc_handlers = _serve(Path(tmp) / "grpc.db", with_http=False)
        anchor = _grpc(target, calls)
        _, url, http_handlers = _serve(Path(tmp) / "http.db", with_http=True)
        figure = _http(url, calls)
        stored = (grpc_handlers.store.count_events(), http_handlers.store.count_events())
        assert stored == (len(calls), len(calls)), stored
    n = len(calls)
    print(f"gRPC IngestEvents (anchor): {n / anchor:,.0f} events/s")
    print(f"HTTP /v1/batch:             {n / figure:,.0f} events/s")
    print(f"HTTP / gRPC events/s ratio: {anchor / figure:.2f}")


if __name__ == "__main__":
    main()
