"""IngestSegment through the real gRPC server: every call type stores and scores,
nested fields are matchable dot paths, kinds pick profiles, bad calls write nothing."""

from __future__ import annotations

import json

import grpc
import pytest

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc
from tests.conftest import ServerHandle
from tests.rpc.conftest import field_violations
from tests.segment.calls import T0, documented_calls, send


def test_every_documented_call_type_ingests_and_scores(grpc_server: ServerHandle) -> None:
    grpc_server.clock.set(T0)
    with grpc_server.channel() as channel:
        result = send(channel, documented_calls())
    assert (result.accepted, result.duplicates) == (6, 0)
    assert result.merged == 2  # identify's anonymousId, alias's previousId
    store = grpc_server.service.store

    def look() -> tuple[object, ...]:
        return (
            store.count_events("u-1"),
            store.count_events("anon-1"),
            store.get_entities(["u-1", "acme", "anon-1"]),
            store.get_scores("lead_qualification", ["u-1", "anon-1"]),
            store.get_scores("churn_risk", ["acme", "u-1"]),
            store.get_scores("ticket_triage", ["u-1", "acme"]),
            store.conn.execute(
                "SELECT event, properties FROM events WHERE message_id = 'anon-1-page'"
            ).fetchone(),
        )

    on_user, on_anon, entities, leads, churn, triage, page = grpc_server.call(look)
    assert (on_user, on_anon) == (6, 0)  # every call, the anonymous ones included
    assert entities["u-1"].kind == "contact" and entities["u-1"].account_id == "acme"
    assert entities["u-1"].attributes["address.city"] == "Oslo"
    assert entities["u-1"].numeric_attributes["employees"] == 250
    assert (
        entities["acme"].kind == "account" and entities["acme"].attributes["plan"] == "enterprise"
    )
    assert "anon-1" not in entities  # merged away
    # The page (/pricing: hot) and the demo request score the known contact ...
    assert set(leads) == {"u-1"}
    assert leads["u-1"].score > 25
    # ... the account made by the group call is scored by the account profile, and no
    # profile of another kind scores either of them.
    assert set(churn) == {"acme"} and triage == {}
    name, properties = page
    stored = json.loads(properties)
    assert name == "page_view" and stored["url"] == "/pricing"
    assert stored["utm.source"] == "ads" and stored["context.page.url"].endswith("/pricing")
    assert stored["href"] == "https://example.com/pricing" and stored["page_category"] == "Docs"


def test_redelivery_changes_nothing(grpc_server: ServerHandle) -> None:
    grpc_server.clock.set(T0)
    with grpc_server.channel() as channel:
        send(channel, documented_calls())
        before = grpc_server.call(
            lambda: grpc_server.service.store.get_scores("lead_qualification", ["u-1"])
        )
        again = send(channel, documented_calls())
    assert (again.accepted, again.duplicates, again.merged) == (0, 6, 0)
    after = grpc_server.call(
        lambda: grpc_server.service.store.get_scores("lead_qualification", ["u-1"])
    )
    assert after["u-1"].score == before["u-1"].score


def test_clock_skew_is_corrected_and_an_explicit_timestamp_kept(grpc_server: ServerHandle) -> None:
    grpc_server.clock.set(T0)
    device_ahead = {  # the device clock runs 600 s fast: sent 10 s after it happened
        "type": "track",
        "userId": "u-skew",
        "event": "login",
        "messageId": "skew",
        "originalTimestamp": "2026-05-28T20:36:30Z",
        "sentAt": "2026-05-28T20:36:40Z",
    }
    with grpc_server.channel() as channel:
        send(channel, [device_ahead])
    ts = grpc_server.call(
        lambda: grpc_server.service.store.conn.execute(
            "SELECT ts FROM events WHERE message_id = 'skew'"
        ).fetchone()[0]
    )
    assert ts == pytest.approx(T0 - 10)  # receivedAt (the server's now) - (sentAt - original)


def test_bad_calls_name_their_fields_and_write_nothing(grpc_server: ServerHandle) -> None:
    bad = [
        {"type": "track", "userId": "u", "event": "ok", "messageId": "fine"},
        {"type": "track", "event": "x"},  # no id at all
        {"type": "hover", "userId": "u"},
        {"type": "group", "userId": "u"},
        {"type": "alias", "userId": "u"},
        {"type": "track", "userId": "u", "event": "x", "timestamp": "yesterday"},
        {"type": "track", "userId": "u", "event": "x", "properties": ["not", "an", "object"]},
    ]
    texts = [json.dumps(c) for c in bad] + ["{not json", '{"type": "track", "value": NaN}']
    with grpc_server.channel() as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.IngestSegment(iter([ev.IngestSegmentRequest(calls=texts)]), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = field_violations(caught.value)
    assert set(fields) == {"messages[0].calls[7]", "messages[0].calls[8]"}  # JSON first
    with grpc_server.channel() as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.IngestSegment(iter([ev.IngestSegmentRequest(calls=texts[:7])]), timeout=30)
    fields = field_violations(caught.value)
    assert set(fields) == {
        "messages[0].calls[1].userId",
        "messages[0].calls[2].type",
        "messages[0].calls[3].groupId",
        "messages[0].calls[4].previousId",
        "messages[0].calls[5].timestamp",
        "messages[0].calls[6].properties",
    }
    assert grpc_server.call(lambda: grpc_server.service.store.count_events()) == 0


def test_a_stream_keeps_what_came_before_a_bad_message_and_nothing_after(
    grpc_server: ServerHandle,
) -> None:
    # More messages than the stream queues for the writer at once (rpc/streams.IN_FLIGHT).
    def message(k: int) -> ev.IngestSegmentRequest:
        calls = [{"type": "track", "userId": f"s{k}", "event": "e", "messageId": f"s{k}-{i}"}
                 for i in range(2)]  # fmt: skip
        return ev.IngestSegmentRequest(calls=[json.dumps(c) for c in calls])

    bad = ev.IngestSegmentRequest(calls=[json.dumps({"type": "track", "event": "x"})])
    messages = [message(k) for k in range(7)] + [bad] + [message(k) for k in range(7, 10)]
    with grpc_server.channel() as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.IngestSegment(iter(messages), timeout=30)
        assert set(field_violations(caught.value)) == {"messages[7].calls[0].userId"}
        assert grpc_server.call(lambda: grpc_server.service.store.count_events()) == 14
        done = stub.IngestSegment(iter(messages[:7] + messages[8:]), timeout=30)
    assert (done.accepted, done.duplicates) == (6, 14)
