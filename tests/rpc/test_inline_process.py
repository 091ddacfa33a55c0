"""Large inline ScoreEntities requests, scored in a worker process (rpc/inline_scoring.py).

Each request is sent twice to the same real server: once as it is (over
convert.PROCESS_BYTES: a worker process scores it) and once with the threshold raised
past it (the serving process scores it, as before). Whatever the client sees, answers
and errors with their google.rpc.Status details, must be the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import numpy as np
import pytest
from google.protobuf.message import DecodeError

from prioscore.server.rpc import convert
from prioscore.server.rpc.inline_scoring import InlineBytes, request_or_bytes
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc, scoring_service_pb2_grpc, types_pb2
from prioscore.v1 import scoring_service_pb2 as sc
from tests.conftest import ServerHandle

NOW = 1_750_000_000.0
Outcome = tuple[str, bytes]  # what a client sees: status code name and details, or bytes


@pytest.fixture
def server(grpc_server: ServerHandle) -> Iterator[tuple[ServerHandle, grpc.Channel]]:
    grpc_server.clock.set(NOW)
    channel = grpc_server.channel()
    yield grpc_server, channel
    channel.close()


def _event(i: int, entity: str, **fields: object) -> types_pb2.Event:
    event = types_pb2.Event(
        message_id=f"m{i}",
        kind=types_pb2.EVENT_KIND_TRACK,
        entity_id=entity,
        entity_kind="contact",
        event=("page_view", "email_click", "form_submit")[i % 3],
        **fields,  # type: ignore[arg-type]
    )
    event.time.FromSeconds(int(NOW) - 3_600 * (i % 200))
    event.properties["url"] = ("/pricing", "/docs", "/blog")[i % 3]
    event.properties["form"] = "demo"
    return event


def _inline(n: int = 3_000, profile: str = "lead_qualification") -> sc.ScoreEntitiesRequest:
    events = [_event(i, f"c{i % 400}") for i in range(n)]
    entities = [
        types_pb2.Entity(id=f"c{k}", kind="contact", attributes={"seniority": "vp"})
        for k in range(0, 400, 7)
    ]
    request = sc.ScoreEntitiesRequest(
        profile=profile,
        inline_events=sc.InlineEvents(events=events, entities=entities),
        explain=True,
        top_reasons=4,
    )
    return request


def _call(channel: grpc.Channel, data: bytes) -> Outcome:
    """The raw answer: the response's bytes, or the status and its details trailer."""
    method = channel.unary_unary("/prioscore.v1.ScoringService/ScoreEntities")
    try:
        return "OK", method(data, timeout=60)
    except grpc.RpcError as error:
        trailer = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin", b"")
        return error.code().name, f"{error.details()}".encode() + b"|" + trailer


def _both(
    channel: grpc.Channel, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> tuple[Outcome, Outcome]:
    """(in a worker process, in the serving process) for the same request bytes."""
    elsewhere = _call(channel, data)
    with monkeypatch.context() as patch:
        patch.setattr(convert, "PROCESS_BYTES", len(data) + 1)
        here = _call(channel, data)
    return elsewhere, here


def test_a_large_inline_request_answers_as_in_the_serving_process(
    server: tuple[ServerHandle, grpc.Channel], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, channel = server
    data = _inline().SerializeToString()
    assert len(data) > convert.PROCESS_BYTES
    elsewhere, here = _both(channel, data, monkeypatch)
    assert elsewhere[0] == "OK" and elsewhere == here
    scores = sc.ScoreEntitiesResponse.FromString(elsewhere[1]).scores
    assert len(scores) == 400 and any(s.contributions for s in scores)
    assert {s.update_time.seconds for s in scores} == {int(NOW)}  # the loop's clock


def test_inline_features_answer_as_in_the_serving_process(
    server: tuple[ServerHandle, grpc.Channel], monkeypatch: pytest.MonkeyPatch
) -> None:
    handle, channel = server
    profile = handle.service.get_profile("lead_qualification")
    rows = 3_000
    matrix = np.random.default_rng(3).uniform(0, 5, (rows, len(profile.signals)))
    request = sc.ScoreEntitiesRequest(
        profile="lead_qualification",
        inline_features=sc.InlineFeatures(
            features=types_pb2.Matrix(
                shape=list(matrix.shape), dtype=types_pb2.DTYPE_FLOAT64, data=matrix.tobytes()
            ),
            entity_ids=[f"f{i}" for i in range(rows)],
        ),
        top_reasons=2,
    )
    elsewhere, here = _both(channel, request.SerializeToString(), monkeypatch)
    assert elsewhere[0] == "OK" and elsewhere == here
    assert len(sc.ScoreEntitiesResponse.FromString(elsewhere[1]).scores) == rows


def test_stored_scores_read_in_the_worker_are_the_stored_ones(
    server: tuple[ServerHandle, grpc.Channel], monkeypatch: pytest.MonkeyPatch
) -> None:
    """account_engagement reads its members' stored lead scores: the worker reads them
    on a read-only connection of its own."""
    handle, channel = server
    members = [_event(i, f"m{i % 30}") for i in range(600)]
    for k in range(30):  # m<k> joins account acc<k % 3>
        members.append(_event(1_000 + k, f"m{k}", account_id=f"acc{k % 3}"))
        members[-1].kind = types_pb2.EVENT_KIND_GROUP
    ingest = event_service_pb2_grpc.EventServiceStub(channel).IngestEvents
    ingest(iter([ev.IngestEventsRequest(events=members)]), timeout=60)
    handle.settle()
    inline = [_event(i, f"acc{i % 3}") for i in range(2_000)]
    for event in inline:
        event.entity_kind = "account"
    request = sc.ScoreEntitiesRequest(
        profile="account_engagement", inline_events=sc.InlineEvents(events=inline), explain=True
    )
    assert request.ByteSize() > convert.PROCESS_BYTES
    elsewhere, here = _both(channel, request.SerializeToString(), monkeypatch)
    assert elsewhere[0] == "OK" and elsewhere == here
    scores = sc.ScoreEntitiesResponse.FromString(elsewhere[1]).scores
    engaged = [c.feature for s in scores for c in s.contributions if c.name == "hottest_contact"]
    assert len(engaged) == 3 and max(engaged) > 0  # read from the store


def _stored_contacts(channel: grpc.Channel) -> None:
    """c1..c39: stored directors (c0, c10, ...: customers, disqualified)."""
    entities = [
        types_pb2.Entity(
            id=f"c{k}",
            kind="contact",
            attributes={"seniority": "director", "relationship": "" if k % 10 else "customer"},
            numeric_attributes={"employees": 300},
        )
        for k in range(40)
    ]
    upsert = event_service_pb2_grpc.EventServiceStub(channel).UpsertEntities
    upsert(ev.UpsertEntitiesRequest(entities=entities), timeout=60)


def _with_traits(request: sc.ScoreEntitiesRequest) -> sc.ScoreEntitiesRequest:
    """Identify traits for c20..c59 (over stored ones for c20..c39), and a group that
    gives the account c399 traits (not its member c398's)."""
    events = request.inline_events.events
    for k in range(20, 60):
        events.add(
            message_id=f"t{k}", kind=types_pb2.EVENT_KIND_IDENTIFY, entity_id=f"c{k}"
        ).traits["seniority"] = "manager"
        events[-1].numeric_traits["employees"] = 60.0
    group = events.add(
        message_id="g", kind=types_pb2.EVENT_KIND_GROUP, entity_id="c398", account_id="c399"
    )
    group.traits["industry"] = "software"
    return request


def test_traits_and_stored_attributes_read_in_the_worker_are_the_serving_ones(
    server: tuple[ServerHandle, grpc.Channel], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker reads stored attributes on its own read-only connection and the
    events' traits with the same code: the same bytes as in the serving process."""
    handle, channel = server
    _stored_contacts(channel)
    handle.settle()
    request = _with_traits(_inline())
    request.inline_events.ClearField("entities")  # traits and stored attributes only
    data = request.SerializeToString()
    assert len(data) > convert.PROCESS_BYTES
    elsewhere, here = _both(channel, data, monkeypatch)
    assert elsewhere[0] == "OK" and elsewhere == here
    scores = {s.entity_id: s for s in sc.ScoreEntitiesResponse.FromString(elsewhere[1]).scores}
    fits = {
        entity: [c.points for c in score.contributions if c.kind == types_pb2.CONTRIBUTION_KIND_FIT]
        for entity, score in scores.items()
    }
    # lead_qualification's fit rules: seniority, employees, industry.
    assert fits["c1"] == [12, 15, 0] and fits["c25"] == [8, 10, 0]  # stored; traits over it
    assert fits["c45"] == [8, 10, 0] and fits["c100"] == [0, 0, 0]  # traits; nothing
    assert fits["c399"] == [0, 0, 10] and fits["c398"] == [0, 0, 0]  # the group's account
    assert scores["c10"].disqualified and not scores["c11"].disqualified


def _broken(kind: str) -> bytes:
    request = _inline()
    if kind == "event":
        request.inline_events.events[2_500].entity_id = ""
    elif kind == "contract":
        request.profile = "x" * 10_000
    elif kind == "profile":
        request.profile = "no_such_profile"
    elif kind == "as_of":
        request.as_of.seconds = -(10**12)
    elif kind == "top_reasons":
        request.top_reasons = -1
    elif kind == "source":
        request.ClearField("inline_events")
        request.inline_features.features.shape.extend([1, 2, 3])
        request.inline_features.entity_ids.extend(f"e{i}" for i in range(20_000))
    data = request.SerializeToString()
    if kind == "undecodable":  # an event's string that is not UTF-8, deep inside
        at = data.rindex(b"c399")
        data = data[:at] + b"\xff" + data[at + 1 :]
    return data


@pytest.mark.parametrize(
    "kind", ["event", "contract", "profile", "as_of", "top_reasons", "source", "undecodable"]
)
def test_errors_in_a_large_request_are_the_serving_process_ones(
    server: tuple[ServerHandle, grpc.Channel], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    _, channel = server
    elsewhere, here = _both(channel, _broken(kind), monkeypatch)
    assert elsewhere == here
    code, details = elsewhere
    expected = "NOT_FOUND" if kind == "profile" else "INVALID_ARGUMENT"
    message, _, trailer = details.partition(b"|")
    assert code == expected and message and trailer  # the google.rpc.Status details


def test_a_bad_event_is_named_by_its_field(server: tuple[ServerHandle, grpc.Channel]) -> None:
    _, channel = server
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    request = sc.ScoreEntitiesRequest.FromString(_broken("event"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.ScoreEntities(request, timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "inline_events.events[2500].entity_id" in (caught.value.details() or "")


def test_the_serving_process_does_not_score_a_large_request(
    server: tuple[ServerHandle, grpc.Channel], monkeypatch: pytest.MonkeyPatch
) -> None:
    handle, channel = server
    scored_here: list[object] = []
    score_events = handle.service.score_events

    def counted(*args: object, **kwargs: object) -> object:
        scored_here.append(args)
        return score_events(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(handle.service, "score_events", counted)
    code, _ = _call(channel, _inline().SerializeToString())
    assert code == "OK" and scored_here == []
    small = _inline(20).SerializeToString()
    assert _call(channel, small)[0] == "OK" and len(scored_here) == 1


def _pieces() -> dict[str, bytes]:
    big = _inline().SerializeToString()
    stored = sc.ScoreEntitiesRequest(
        profile="lead_qualification", stored=sc.StoredEntities(entity_ids=["c1"])
    ).SerializeToString()
    other = sc.ScoreEntitiesRequest(profile="churn_risk", top_reasons=2).SerializeToString()
    unknown = b"\xf8\x06\x01" + b"\x09" + bytes(8) + b"\x15" + bytes(4)  # fields 111, 1, 2
    return {"big": big, "stored": stored, "other": other, "unknown": unknown}


@pytest.mark.parametrize(
    ("parts", "routed"),
    [
        (["big"], True),
        (["big", "stored"], False),  # the oneof's last member wins: stored
        (["stored", "big"], True),
        (["big", "other"], True),  # a later profile wins: churn_risk
        (["unknown", "big", "unknown"], True),
        (["big", *["other"] * 8], False),  # more top-level fields than a client writes
    ],
)
def test_a_request_is_routed_by_what_the_parser_reads(parts: list[str], routed: bool) -> None:
    pieces = _pieces()
    data = b"".join(pieces[p] for p in parts)  # concatenated messages merge
    parsed = sc.ScoreEntitiesRequest.FromString(data)
    got = request_or_bytes(data)
    assert isinstance(got, InlineBytes) is routed
    if isinstance(got, InlineBytes):
        assert parsed.WhichOneof("source") == "inline_events"
        assert got.profile == parsed.profile and bytes(got) == data
    else:
        assert got == parsed


def test_bytes_that_do_not_parse_are_left_to_the_parser() -> None:
    data = _pieces()["big"]
    for broken in (data[:-3], data + b"\x0a\xff", data[:1] + b"\xff\xff" + data[3:]):
        with pytest.raises(DecodeError):
            request_or_bytes(broken)


def test_the_servers_row_limit_holds_in_the_worker(
    start_grpc_server: Callable[..., ServerHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = start_grpc_server(max_rows_per_batch=300)  # _inline() scores 400 entities
    with handle.channel() as channel:
        elsewhere, here = _both(channel, _inline().SerializeToString(), monkeypatch)
    assert elsewhere == here and elsewhere[0] == "INVALID_ARGUMENT"
    assert b"400 rows exceed the per-request limit 300" in elsewhere[1]
