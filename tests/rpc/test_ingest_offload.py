"""Large IngestEvents messages, parsed, converted and checked in a worker process
(rpc/ingest_offload.py).

Each stream is sent to two real servers over fresh stores: to one as it is (messages over
convert.PROCESS_BYTES go to a worker) and to the other with the threshold raised past
every message (the serving process converts them, as before). What the client sees (the
response's bytes, or the status with its google.rpc.Status details) and what is stored
must be the same. Each message's events name entities no other message names, so the
answers do not depend on which batches the writer happened to commit together.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from prioscore.server.config import Limits
from prioscore.server.handlers import check_batch
from prioscore.server.rpc import convert, ingest_offload
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import types_pb2
from tests.conftest import ServerHandle

NOW = 1_750_000_000.0
Outcome = tuple[str, bytes]  # what a client sees: status code name and details, or bytes
Servers = tuple[ServerHandle, ServerHandle]  # (converts in a worker, converts here)


@pytest.fixture
def servers(start_grpc_server: Callable[..., ServerHandle]) -> Servers:
    return _started(start_grpc_server)


def _started(start: Callable[..., ServerHandle], **settings: Any) -> Servers:
    pair = start(**settings), start(**settings)
    for handle in pair:
        handle.clock.set(NOW)
    return pair


def _event(i: int, entity: str) -> types_pb2.Event:
    """Track events with properties and metrics; every 7th an identify with traits,
    every 11th a group (an account joined)."""
    event = types_pb2.Event(message_id=f"m{i}", entity_id=entity, entity_kind="contact")
    if i % 7 == 0:
        event.kind = types_pb2.EVENT_KIND_IDENTIFY
        event.traits["seniority"] = ("vp", "ic")[i % 2]
        event.numeric_traits["employees"] = float(i % 500)
    elif i % 11 == 0:
        event.kind = types_pb2.EVENT_KIND_GROUP
        event.account_id = f"acc-{entity}"
    else:
        event.kind = types_pb2.EVENT_KIND_TRACK
        event.event = ("page_view", "email_click", "form_submit")[i % 3]
        event.properties["url"] = ("/pricing", "/docs", "/blog")[i % 3]
        event.metrics["seconds"] = float(i % 90)
        if i % 2:
            event.value = float(i % 13)
    event.time.FromSeconds(int(NOW) - 3_600 * (i % 200))
    return event


def _messages(count: int = 3, n: int = 1_500) -> list[ev.IngestEventsRequest]:
    """`count` messages of `n` events, message k's to entities c<k>-0 .. c<k>-199."""
    return [
        ev.IngestEventsRequest(
            events=[_event(k * n + i, f"c{k}-{i % 200}") for i in range(n)],
        )
        for k in range(count)
    ]


def _serialized(messages: list[ev.IngestEventsRequest]) -> list[bytes]:
    return [message.SerializeToString() for message in messages]


def _ingest(handle: ServerHandle, stream: list[bytes]) -> Outcome:
    """The raw answer: the response's bytes, or the status and its details trailer."""
    with handle.channel() as channel:
        method = channel.stream_unary("/prioscore.v1.EventService/IngestEvents")
        try:
            return "OK", method(iter(stream), timeout=60)
        except grpc.RpcError as error:
            trailer = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin", b"")
            return error.code().name, f"{error.details()}".encode() + b"|" + trailer


def _stored(handle: ServerHandle) -> dict[str, list[tuple[Any, ...]]]:
    """Every row ingest writes, read on a connection of the test's own; but for what
    depends on the wall clock (events.ingested) or on which batches were committed
    together (a change's id, and the cause of one only an account's members reached:
    the group's last message)."""
    tables = {
        "events": "SELECT message_id, entity_id, event, ts, value, properties FROM events",
        "entities": "SELECT * FROM entities",
        "scores": "SELECT * FROM scores",
        "history": "SELECT * FROM score_history",
        "changes": "SELECT entity_id, profile, previous_tier, tier, previous_score, score,"
        " ts, cause FROM tier_changes",
    }
    with sqlite3.connect(f"file:{handle.db}?mode=ro", uri=True) as db:
        return {name: sorted(db.execute(query).fetchall()) for name, query in tables.items()}


def _both(
    servers: Servers, stream: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> tuple[Outcome, Outcome]:
    """(large messages in a worker process, all in the serving process), after checking
    that both servers stored the same rows."""
    elsewhere = _ingest(servers[0], stream)
    with monkeypatch.context() as patch:
        patch.setattr(convert, "PROCESS_BYTES", max(map(len, stream)) + 1)
        here = _ingest(servers[1], stream)
    assert _stored(servers[0]) == _stored(servers[1])
    return elsewhere, here


@pytest.mark.parametrize("backfill", [False, True])
def test_large_messages_answer_and_store_as_in_the_serving_process(
    servers: Servers, monkeypatch: pytest.MonkeyPatch, backfill: bool
) -> None:
    messages = _messages()
    for message in messages:
        message.backfill = backfill
        assert message.ByteSize() > convert.PROCESS_BYTES
    elsewhere, here = _both(servers, _serialized(messages), monkeypatch)
    assert elsewhere[0] == "OK" and elsewhere == here
    response = ev.IngestEventsResponse.FromString(elsewhere[1])
    assert response.accepted == 4_500 and response.entities_rescored > 0
    stored = _stored(servers[0])
    assert len(stored["events"]) == 4_500 and stored["scores"]


# What breaks a stream of three large messages and a small one: (what is done to it, the
# field the error names, how many messages before it are written).
_BREAKS = {
    "entity_id": ("messages[1].events[17].entity_id", 1),
    "future": ("messages[1].events[17].time", 1),  # past max_future_seconds: the clock's
    "backfill": ("messages[1].backfill", 1),
    "backfill_first": ("messages[1].backfill", 1),  # and an event bad: backfill is first
    "two": ("messages[1].events[17].entity_id", 1),  # 1 and 2, converting at once
    "small": ("messages[3].events[0].entity_id", 3),  # after large ones, in order
    "undecodable": ("messages[1]", 1),  # large: parsed in the worker
    "small_undecodable": ("messages[3]", 3),  # parsed here while 1 and 2 convert
}


def _broken(kind: str) -> list[bytes]:
    messages = [*_messages(), ev.IngestEventsRequest(events=[_event(9_000, "s")])]
    if kind in ("entity_id", "backfill_first", "two"):
        messages[1].events[17].entity_id = ""
    if kind == "two":
        messages[2].events[5].entity_id = ""
    if kind == "future":
        messages[1].events[17].time.FromSeconds(int(NOW) + 2 * 86_400)
    if kind in ("backfill", "backfill_first"):
        messages[1].backfill = True
    if kind == "small":
        messages[3].events[0].entity_id = ""
    stream = _serialized(messages)
    if kind.endswith("undecodable"):  # an event's string that is not UTF-8, deep inside
        bad = 3 if kind.startswith("small") else 1
        at = stream[bad].rindex(b"s" if bad == 3 else b"c1-199")
        stream[bad] = stream[bad][:at] + b"\xff" + stream[bad][at + 1 :]
    return stream


@pytest.mark.parametrize("kind", list(_BREAKS))
def test_a_bad_message_fails_as_in_the_serving_process(
    servers: Servers, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    stream = _broken(kind)
    elsewhere, here = _both(servers, stream, monkeypatch)
    assert elsewhere == here
    code, details = elsewhere
    message, _, trailer = details.partition(b"|")
    assert code == "INVALID_ARGUMENT" and trailer  # the google.rpc.Status details
    field, written = _BREAKS[kind]
    assert field.encode() in message
    stored = {row[0] for row in _stored(servers[0])["events"]}
    # The batches before the bad one are written; nothing of it nor of any later one.
    before = [ev.IngestEventsRequest.FromString(data) for data in stream[:written]]
    assert stored == {e.message_id for m in before for e in m.events}


def test_a_stream_too_long_writes_the_messages_before_the_limit(
    start_grpc_server: Callable[..., ServerHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    servers = _started(start_grpc_server, max_stream_messages=2)
    elsewhere, here = _both(servers, _serialized(_messages()), monkeypatch)
    assert elsewhere == here and elsewhere[0] == "RESOURCE_EXHAUSTED"
    assert len(_stored(servers[0])["events"]) == 3_000


def test_the_servers_event_limit_holds_in_the_worker(
    start_grpc_server: Callable[..., ServerHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    servers = _started(start_grpc_server, max_events_per_request=1_000)
    elsewhere, here = _both(servers, _serialized(_messages(count=2)), monkeypatch)
    assert elsewhere == here and elsewhere[0] == "INVALID_ARGUMENT"
    assert b"1500 events exceed the limit 1000" in elsewhere[1]


def test_only_large_messages_leave_the_serving_process(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = servers[0]
    checked_here: list[int] = []
    check_events = handle.service.check_events

    def counted(events: Any) -> Any:
        checked_here.append(len(events))
        return check_events(events)

    monkeypatch.setattr(handle.service, "check_events", counted)
    small = ev.IngestEventsRequest(events=[_event(i, "s") for i in range(50)])
    stream = _serialized([*_messages(count=2), small])
    assert len(stream[2]) <= convert.PROCESS_BYTES < min(map(len, stream[:2]))
    assert _ingest(handle, stream)[0] == "OK"
    assert checked_here == [50]


def test_a_message_crosses_back_as_it_was_checked() -> None:
    """The pieces a worker sends back make the very batch check_batch made."""
    message = _messages(count=1, n=10_000)[0]  # over GIL_SLICE events: several pieces
    job = ingest_offload._Job(message.SerializeToString(), 4, NOW, Limits(), Limits())
    got = ingest_offload._taken_in(ingest_offload._check(job))
    events = convert.events_from_proto(message.events, "messages[4].events")
    expected = check_batch(events, Limits(), NOW)
    assert got.stored_properties == expected.stored_properties
    for field in dataclasses.fields(expected.events):
        ours, theirs = getattr(got.events, field.name), getattr(expected.events, field.name)
        if isinstance(theirs, np.ndarray):
            np.testing.assert_array_equal(ours, theirs)
            assert ours.dtype == theirs.dtype
        else:
            assert ours == theirs, field.name


def test_the_deserializer_keeps_only_large_messages_as_bytes() -> None:
    small = ev.IngestEventsRequest(events=[_event(1, "s")], backfill=True)
    assert ingest_offload.message_or_bytes(small.SerializeToString()) == small
    data = _messages(count=1)[0].SerializeToString()
    got = ingest_offload.message_or_bytes(data)
    assert isinstance(got, ingest_offload.EventsBytes) and bytes(got) == data


def test_a_large_message_is_stored_before_the_next_one_comes(
    servers: Servers,
) -> None:
    """A converted batch is queued once its worker is done, not once the client sends
    the stream's next message: a stream of large messages sent seconds apart has each
    stored (and its tier changes told) at once."""
    first, second = _serialized(_messages(count=2))
    sent_second = threading.Event()
    seen: set[str] = set()

    def stream() -> Iterator[bytes]:
        yield first
        sent_second.wait(30)  # the stream stays open until the first batch is stored
        yield second

    handle = servers[0]
    with handle.channel() as channel:
        method = channel.stream_unary("/prioscore.v1.EventService/IngestEvents")
        call = method.future(stream(), timeout=60)
        try:
            for _ in range(400):  # up to ~20 s for the first batch's 1,500 events
                seen = {row[0] for row in _stored(handle)["events"]}
                if len(seen) == 1_500 or sent_second.wait(0.05):
                    break
        finally:
            sent_second.set()
        response = ev.IngestEventsResponse.FromString(call.result())
    assert seen == {e.message_id for e in ev.IngestEventsRequest.FromString(first).events}
    assert response.accepted == 3_000
