"""Dashboard page render time against a bare RankEntities call, on a 100k-entity store.

D1-D3: the server-side time of one dashboard page (request in, last byte out, measured
by an HTTP client on loopback) as a ratio to one bare RankEntities call (25 rows with top
reasons, the sync client) in the same run against the same server process. A ranked
page is one RankEntities page and one GetEntity per row; D4 is the population fragment
the ranked page loads after it is shown (3 + 10 count-only RankEntities calls: tier
counts, histogram). The absolute target is 300 ms per page. Medians of REPEATS after
one warm-up.

    python bench/dashboard.py [--quick]   (20k entities instead of 100k)
"""

from __future__ import annotations

import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, info
from _service_common import Group, Run, ServerProcess, batches_of, ingest_once, main, make_events

from prioscore.clients import PrioscoreClient
from prioscore.clients.dashboard import DashboardSettings, create_app
from prioscore.v1 import types_pb2

REPEATS = 15
PAGE_SIZE = 25
TARGET_MS = 300.0
PROFILE = "lead_qualification"


def identify_events(n_entities: int, prefix: str) -> list[types_pb2.Event]:
    """Names and e-mails (what the ranked page shows beside each score)."""
    return [
        types_pb2.Event(
            message_id=f"{prefix}-id-{i}",
            kind=types_pb2.EVENT_KIND_IDENTIFY,
            entity_id=f"{prefix}-e{i}",
            entity_kind="contact",
            traits={"name": f"Person {i}", "email": f"person{i}@example.test", "seniority": "vp"},
        )
        for i in range(n_entities)
    ]


def start_dashboard(target: str) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    settings = DashboardSettings(target, page_size=PAGE_SIZE, timeout=60)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)  # bench start-up only: waiting for uvicorn to listen
    assert server.started, "dashboard did not start"
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def fetch(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        assert response.status == 200, url
    return time.perf_counter() - start


def median_of(fn: object, repeats: int = REPEATS) -> float:
    fn()  # type: ignore[operator]  # warm-up
    return statistics.median(fn() for _ in range(repeats))  # type: ignore[operator]


def run(ctx: Run) -> None:
    n = 20_000 if ctx.quick else 100_000
    server = ServerProcess("dashboard", ctx.profiles, ctx.workdir, ctx.profile_dir)
    try:
        requests = batches_of(
            identify_events(n, "d") + make_events(3 * n, n, "contact", "d", 1), 5_000
        )
        for request in requests:
            request.backfill = True
        seconds, response = ingest_once(server.target, requests, max_seconds=900)
        info(
            "D0  store",
            f"{n:,} contacts, {response.accepted:,} events backfilled in {seconds:.0f}s",
        )
        client = PrioscoreClient(server.target, timeout=60)
        total = client.rank_page(PROFILE, page_size=1).total_size
        assert total == n, f"{total} scored, expected {n}"

        def bare_rank() -> float:
            start = time.perf_counter()
            client.rank_page(PROFILE, page_size=PAGE_SIZE, top_reasons=3)
            return time.perf_counter() - start

        anchor = median_of(bare_rank)
        middle = next(iter(client.rank(PROFILE, limit=1))).entity_id
        url, dashboard, thread = start_dashboard(server.target)
        pages = {
            "D1  ranked page/rank": f"/profiles/{PROFILE}",
            "D2  entity page/rank": f"/entities/{middle}?profile={PROFILE}",
            "D3  at-risk page/rank": f"/at-risk?profile={PROFILE}",
            "D4  population/rank": f"/profiles/{PROFILE}/population",
        }
        for name, path in pages.items():
            page = median_of(lambda path=path: fetch(url + path))
            figure(
                name,
                page / anchor,
                TARGET_MS / (anchor * 1e3),
                False,
                f"page {page * 1e3:.1f} ms (target {TARGET_MS:g} ms) vs RankEntities "
                f"{anchor * 1e3:.2f} ms; {n:,} entities, {PAGE_SIZE} rows",
            )
        dashboard.should_exit = True
        thread.join(timeout=30)
        client.close()
    finally:
        server.stop()


GROUP = Group(("D1", "D2", "D3", "D4"), run)

if __name__ == "__main__":
    main("bench/dashboard.py", __doc__ or "", [GROUP])
