"""Benchmark: do live watchers slow ingest? (issue "Live core II": 500 live watchers made
a 1,000-entity ingest 7.8x slower.)

    .venv/bin/python bench/service_watchers.py [--quick] [--profile-server DIR]

Figures:
  W1   1,000-entity ingest with 500 IDLE watchers / with 0 watchers, same server, same
       run (target <= 1.2x). The idle watchers are live streams whose filter the ingest
       never passes: another profile, an account, a tier and a cause it does not produce
       (125 of each). Each got one marker change first, which proves it registered.
  W2   the same with 500 watchers on the ingest's own profile, each RECEIVING all 1,000
       changes one per message (this fan-out is real work, 500,000 messages; the time
       until the last watcher has them all is printed beside); target <= 1.2x.
  W2b  the same, the watchers asking for max_changes_per_response 1,000 (a commit's
       changes in one message, as the client library asks); target <= 1.2x.

Each ingest is 1,000 new contacts, one page_view each, 10 batches of 100 in one
IngestEvents stream (every contact's first score is a tier change). The conditions run
interleaved, several rounds, and the ratio is of medians. Watch streams are read by
this process's event loop; the ingest is timed from a thread with its own channel.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, info
from _service_common import Group, Run, ServerProcess, batches_of, ingest_once, main

from prioscore.v1 import (
    event_service_pb2,
    event_service_pb2_grpc,
    scoring_service_pb2,
    scoring_service_pb2_grpc,
    types_pb2,
)

N_WATCHERS = 500
N_ENTITIES = 1_000
BATCH = 100
CHANNELS = 5  # watch streams spread over this many connections
Request = scoring_service_pb2.WatchTierChangesRequest
BACKFILL = types_pb2.TierChangeCause.TIER_CHANGE_CAUSE_BACKFILL
IDLE = [
    Request(profile="churn_risk"),
    Request(profile="lead_qualification", account_id="nobody-acct"),
    Request(profile="lead_qualification", tiers=["hot"]),
    Request(profile="lead_qualification", causes=[BACKFILL]),
]
_ids = iter(range(10**9))


def _event(
    entity: str, name: str = "page_view", kind: str = "contact", **props: str
) -> types_pb2.Event:
    return types_pb2.Event(
        message_id=f"w-{next(_ids)}",
        kind=types_pb2.EVENT_KIND_TRACK,
        entity_id=entity,
        entity_kind=kind,
        event=name,
        properties=props,
    )


def _markers(tag: str) -> list[tuple[list[types_pb2.Event], bool]]:
    """One change each idle filter passes (and the ingest never makes): an account's
    first score, a contact of nobody-acct, a hot contact, a historical import."""
    grouped = _event(f"{tag}-grouped")
    grouped.kind, grouped.account_id = types_pb2.EVENT_KIND_GROUP, "nobody-acct"
    hot = [
        _event(f"{tag}-hot", "form_submit", form="demo_request"),
        *(_event(f"{tag}-hot", url="/pricing") for _ in range(6)),
        _event(f"{tag}-hot", "webinar_attended", webinar="w1"),
        _event(f"{tag}-hot", "form_submit", form="content_download", asset="a1"),
        *(_event(f"{tag}-hot", "email_click", campaign="c1") for _ in range(2)),
    ]
    return [
        ([_event(f"{tag}-acct", "login", kind="account")], False),
        ([grouped, _event(f"{tag}-grouped", url="/blog/x")], False),
        (hot, False),
        ([_event(f"{tag}-backfilled", url="/blog/x")], True),
    ]


class Watchers:
    """N live watch streams on a few channels, counting what each receives."""

    def __init__(self, target: str, requests: list[Request]) -> None:
        self.channels = [
            grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(CHANNELS)
        ]
        self.counts = [0] * len(requests)
        self.last = 0.0  # perf_counter of the last change received
        self.calls = []
        for i, request in enumerate(requests):
            stub = scoring_service_pb2_grpc.ScoringServiceStub(self.channels[i % CHANNELS])
            self.calls.append(stub.WatchTierChanges(request))
        self.tasks = [asyncio.create_task(self._read(i)) for i in range(len(requests))]

    async def _read(self, i: int) -> None:
        try:
            async for response in self.calls[i]:
                self.counts[i] += len(response.changes) or 1  # batched, or one `change`
                self.last = time.perf_counter()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                raise

    async def until(self, done: Callable[[list[int]], bool], what: str, limit: float = 60) -> None:
        deadline = time.perf_counter() + limit
        while not done(self.counts):
            for task in self.tasks:
                if task.done() and task.exception():
                    raise RuntimeError(f"watch ended: {task.exception()}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{what}: not within {limit}s ({sum(self.counts)} received)")
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        for call in self.calls:
            call.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for channel in self.channels:
            await channel.close()


async def _ingest(target: str, events: list[types_pb2.Event], backfill: bool = False) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        await stub.IngestEvents(
            iter([event_service_pb2.IngestEventsRequest(events=events, backfill=backfill)]),
            timeout=60,
        )


async def _timed_ingest(target: str, tag: str) -> tuple[float, int]:
    """(seconds, tier changes) of the 1,000-entity ingest, from a thread of its own."""
    events = [_event(f"{tag}-c{i}", url="/blog/x") for i in range(N_ENTITIES)]
    secs, response = await asyncio.to_thread(ingest_once, target, batches_of(events, BATCH))
    if response.accepted != N_ENTITIES:
        raise RuntimeError(f"ingest accepted {response.accepted} of {N_ENTITIES}")
    return secs, response.tier_changes


async def _round(target: str, condition: str, tag: str) -> tuple[float, int, float, int]:
    """(ingest seconds, tier changes, seconds until watchers had everything, changes
    idle watchers received beyond their marker) for one condition."""
    if condition == "none":
        secs, changes = await _timed_ingest(target, tag)
        return secs, changes, 0.0, 0
    if condition == "idle":
        requests = [IDLE[i % len(IDLE)] for i in range(N_WATCHERS)]
        watchers = Watchers(target, requests)
        await _markers_seen(target, watchers, tag)
        before = sum(watchers.counts)
        secs, changes = await _timed_ingest(target, tag)
        await asyncio.sleep(0.2)  # anything wrongly routed to them would arrive meanwhile
        stray = sum(watchers.counts) - before
        await watchers.close()
        return secs, changes, 0.0, stray
    most = 1_000 if condition == "batched" else 0
    request = Request(profile="lead_qualification", max_changes_per_response=most)
    watchers = Watchers(target, [request] * N_WATCHERS)
    await _markers_seen(target, watchers, tag, _ping)
    base = list(watchers.counts)
    start = time.perf_counter()
    secs, changes = await _timed_ingest(target, tag)
    await watchers.until(
        lambda c: min(n - b for n, b in zip(c, base, strict=True)) >= changes,
        "receiving watchers' changes",
        300,
    )
    delivered = watchers.last - start
    await watchers.close()
    return secs, changes, delivered, 0


def _ping(tag: str) -> list[tuple[list[types_pb2.Event], bool]]:
    return [([_event(f"{tag}-ready", url="/blog/x")], False)]


async def _markers_seen(
    target: str,
    watchers: Watchers,
    tag: str,
    markers: Callable[[str], list[tuple[list[types_pb2.Event], bool]]] = _markers,
) -> None:
    """Sends markers until every watcher has one: a stream registers with the server
    some time after it is opened, and nothing else tells the client when."""
    for attempt in range(30):
        for events, backfill in markers(f"{tag}-m{attempt}"):
            await _ingest(target, events, backfill)
        try:
            await watchers.until(lambda c: min(c) >= 1, "idle watchers' markers", 1.0)
            return
        except RuntimeError:
            continue
    raise RuntimeError("idle watchers never all registered")


def bench_watchers(run: Run) -> None:
    server = ServerProcess("watchers", run.profiles, run.workdir, run.profile_dir)
    rounds = 2 if run.quick else 4
    conditions = ["none", "idle", "receiving", "batched"]
    secs: dict[str, list[float]] = {c: [] for c in conditions}
    delivered: dict[str, list[float]] = {"receiving": [], "batched": []}
    stray = changes = 0
    try:
        asyncio.run(_warm_up(server.target))
        for r in range(rounds):
            k = r % len(conditions)
            order = conditions[k:] + conditions[:k]  # interleaved, rotating
            for condition in order:
                s, n, d, x = asyncio.run(_round(server.target, condition, f"r{r}{condition}"))
                secs[condition].append(s)
                changes, stray = n, stray + x
                if d:
                    delivered[condition].append(d)
    finally:
        server.stop()
    base = statistics.median(secs["none"])

    def ms(values: list[float]) -> str:
        return "/".join(f"{v * 1e3:.0f}" for v in values)

    idle = statistics.median(secs["idle"])
    figure(
        "W1  ingest, 500 idle watch",
        idle / base,
        1.2,
        False,
        f"1,000-entity ingest median {idle * 1e3:.0f} ms with {N_WATCHERS} idle watchers "
        f"({ms(secs['idle'])}) vs {base * 1e3:.0f} ms with none ({ms(secs['none'])}); "
        f"{changes:,} tier changes per ingest; {stray} reached idle watchers",
    )
    for condition, name, how in (
        ("receiving", "W2  ingest, 500 receiving", "one change per message"),
        ("batched", "W2b ingest, 500 batched", "max_changes_per_response 1,000"),
    ):
        took = statistics.median(secs[condition])
        figure(
            name,
            took / base,
            1.2,
            False,
            f"ingest median {took * 1e3:.0f} ms ({ms(secs[condition])}) with {N_WATCHERS} "
            f"watchers each receiving all {changes:,} changes, {how}, vs {base * 1e3:.0f} "
            f"ms; last watcher had them all after "
            f"{statistics.median(delivered[condition]) * 1e3:.0f} ms (median; read by this "
            "process)",
        )
    info("W   rounds", f"{rounds} rounds of {', '.join(conditions)}, order rotating")


async def _warm_up(target: str) -> None:
    """One ingest and a watch first, so no condition pays the server's first-call costs."""
    await _timed_ingest(target, "warm")
    watchers = Watchers(target, [Request(profile="lead_qualification")])
    await _markers_seen(target, watchers, "warm", _ping)
    await watchers.close()


GROUP = Group(("W1", "W2", "W2b"), bench_watchers)

if __name__ == "__main__":
    main("bench/service_watchers.py", __doc__ or "", [GROUP])
