"""Watchers do not slow ingest, through a real server: 200 idle watchers (another
profile, an account, a tier and a cause the ingest never produces) beside matching ones
while 1,000 new contacts are ingested. Ingest results are whole, every watcher gets
exactly the changes its filter passes (idle ones: only the markers sent for them
afterwards), and the hub's routing looked at no watcher beyond the ones it delivered to,
which is what makes fan-out cost independent of idle watchers (bench/service_watchers.py
times it; tests/handlers/test_watch_routing.py holds the hub itself to it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc

from prioscore.v1 import (
    event_service_pb2,
    event_service_pb2_grpc,
    scoring_service_pb2,
    scoring_service_pb2_grpc,
    types_pb2,
)
from tests.conftest import ServerHandle

N_CONTACTS = 1_000
BATCH = 100
IDLE_EACH = 50
CAUSE = types_pb2.TierChangeCause
IDLE = [
    scoring_service_pb2.WatchTierChangesRequest(profile="churn_risk"),
    scoring_service_pb2.WatchTierChangesRequest(
        profile="lead_qualification", account_id="nobody-acct"
    ),
    scoring_service_pb2.WatchTierChangesRequest(profile="lead_qualification", tiers=["hot"]),
    scoring_service_pb2.WatchTierChangesRequest(
        profile="lead_qualification", causes=[CAUSE.TIER_CHANGE_CAUSE_BACKFILL]
    ),
]
ONE_BY_ONE = [
    scoring_service_pb2.WatchTierChangesRequest(profile="lead_qualification"),
    scoring_service_pb2.WatchTierChangesRequest(
        profile="lead_qualification", tiers=["cold", "warm"], causes=[CAUSE.TIER_CHANGE_CAUSE_EVENT]
    ),
]
# The same filters with several changes per message: the same changes, in the same order.
BATCHED = [
    scoring_service_pb2.WatchTierChangesRequest(
        profile=r.profile, tiers=r.tiers, causes=r.causes, max_changes_per_response=most
    )
    for r in ONE_BY_ONE
    for most in (7, 1_000)
]
# The catch-all watcher last: what every other watcher gets is its stream, filtered.
MATCHING = [*ONE_BY_ONE, *BATCHED, scoring_service_pb2.WatchTierChangesRequest()]


def event(
    entity: str, name: str = "page_view", kind: str = "contact", **props: str
) -> types_pb2.Event:
    global _sent
    _sent += 1
    return types_pb2.Event(
        message_id=f"fan-{_sent}",
        kind=types_pb2.EVENT_KIND_TRACK,
        entity_id=entity,
        entity_kind=kind,
        event=name,
        properties=props,
    )


_sent = 0


def passes(
    request: scoring_service_pb2.WatchTierChangesRequest, change: types_pb2.TierChange
) -> bool:
    """The filter's documented meaning, as the reference for what a watcher must get."""
    return (
        (not request.profile or request.profile == change.profile)
        and (not request.tiers or change.tier in request.tiers)
        and (not request.account_id or request.account_id == change.account_id)
        and (not request.causes or change.cause in request.causes)
    )


def test_idle_watchers_get_nothing_and_matching_ones_exactly_theirs(
    start_grpc_server: Callable[..., ServerHandle],
) -> None:
    handle = start_grpc_server()
    hub = handle.service.hub
    requests = [r for r in IDLE for _ in range(IDLE_EACH)] + MATCHING
    contacts = [f"c{i}" for i in range(N_CONTACTS)]

    async def scenario() -> tuple[
        event_service_pb2.IngestEventsResponse, list[list[types_pb2.TierChange]]
    ]:
        async with grpc.aio.insecure_channel(handle.target) as channel:
            scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
            events = event_service_pb2_grpc.EventServiceStub(channel)
            received: list[list[types_pb2.TierChange]] = [[] for _ in requests]
            messages = [0 for _ in requests]  # of the batched streams

            async def take(i: int) -> None:
                most = requests[i].max_changes_per_response
                async for response in scoring.WatchTierChanges(requests[i], timeout=60):
                    if most > 1:
                        assert 1 <= len(response.changes) <= most
                        assert not response.HasField("change")
                        received[i].extend(response.changes)
                        messages[i] += 1
                    else:
                        assert not response.changes
                        received[i].append(response.change)

            streams = [asyncio.create_task(take(i)) for i in range(len(requests))]
            deadline = time.monotonic() + 30
            while await asyncio.to_thread(handle.call, lambda: hub.watcher_count) < len(requests):
                assert time.monotonic() < deadline, "watchers did not register"
                await asyncio.sleep(0.01)

            main = [event(c, url="/blog/x") for c in contacts]
            response = await events.IngestEvents(
                iter(
                    event_service_pb2.IngestEventsRequest(events=main[i : i + BATCH])
                    for i in range(0, N_CONTACTS, BATCH)
                ),
                timeout=60,
            )
            # Markers, one for each idle filter, each a change only it (and the
            # catch-all watchers) wants: an account's first score, a contact of
            # nobody-acct, a hot contact, a historical import.
            grouped = event("grouped")
            grouped.kind, grouped.account_id = types_pb2.EVENT_KIND_GROUP, "nobody-acct"
            hot = [
                event("hot", "form_submit", form="demo_request"),
                *(event("hot", url="/pricing") for _ in range(6)),
                event("hot", "webinar_attended", webinar="w1"),
                event("hot", "form_submit", form="content_download", asset="a1"),
                *(event("hot", "email_click", campaign="c1") for _ in range(2)),
            ]
            for batch, backfill in (
                ([event("acct-marker", "login", kind="account")], False),
                ([grouped, event("grouped", url="/blog/x")], False),
                (hot, False),
                ([event("backfilled", url="/blog/x")], True),
            ):
                await events.IngestEvents(
                    iter([event_service_pb2.IngestEventsRequest(events=batch, backfill=backfill)]),
                    timeout=30,
                )
            # Every change reaches the catch-all watcher, in commit order: what each
            # watcher must get is that stream, filtered.
            everything = received[-1]
            deadline = time.monotonic() + 30
            while not all(
                len(got) >= sum(passes(r, c) for c in everything)
                for r, got in zip(requests, received, strict=True)
            ) or not {"acct-marker", "grouped", "hot", "backfilled"} <= {
                c.entity_id for c in everything
            }:
                assert time.monotonic() < deadline, "changes not delivered"
                await asyncio.sleep(0.01)
            for stream in streams:
                stream.cancel()
            await asyncio.gather(*streams, return_exceptions=True)
            return response, received, messages

    response, received, messages = asyncio.run(scenario())
    assert (response.accepted, response.duplicates, response.tier_changes) == (
        N_CONTACTS,
        0,
        N_CONTACTS,
    )
    everything = received[-1]
    main = [c for c in everything if c.entity_id in set(contacts)]
    assert sorted(c.entity_id for c in main) == sorted(contacts)  # each contact once
    ids = [c.change_id for c in everything]
    assert ids == sorted(set(ids))
    for request, got in zip(requests, received, strict=True):
        assert list(got) == [c for c in everything if passes(request, c)], request
    for i, request in enumerate(IDLE):
        got = received[i * IDLE_EACH]
        assert got and not {c.entity_id for c in got} & set(contacts), request  # markers only
    for got in received[len(requests) - len(MATCHING) :]:
        assert {c.entity_id for c in got} >= set(contacts)
    # A batched stream sent a commit's changes together: far fewer messages than changes
    # (10 ingest batches of 100 contacts, each a tier change; 7 a message at most).
    for i, request in enumerate(requests):
        if request.max_changes_per_response == 1_000:
            assert messages[i] <= len(received[i]) // 20, (messages[i], len(received[i]))
        elif request.max_changes_per_response == 7:
            assert len(received[i]) / 7 <= messages[i] <= len(received[i]) // 5
    # The fan-out's work: one look per delivery, none at an idle watcher for the 1,000.
    assert handle.call(lambda: hub.routed) == sum(len(got) for got in received)
    assert handle.call(lambda: hub.backlog) == 0
