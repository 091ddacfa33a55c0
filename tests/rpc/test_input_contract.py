"""The bad-input corpus: every class of input the contract refuses, sent to the real server.

Each case must come back INVALID_ARGUMENT naming the offending field, write nothing (the
event count and the bystander's stored score are unchanged) and leave the server serving
the next, good request.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor

from prioscore.server.config import Limits
from prioscore.server.errors import InvalidArgumentError
from prioscore.server.rpc.contract import check_request
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.rpc.conftest import Stubs, field_violations, identify, track

LIMITS = Limits()
NAN, INF = math.nan, math.inf


def _group(entity_id: str, account_id: str, **numbers: float) -> types_pb2.Event:
    return types_pb2.Event(
        message_id=f"g-{entity_id}-{account_id}",
        kind=types_pb2.EVENT_KIND_GROUP,
        entity_id=entity_id,
        account_id=account_id,
        numeric_traits=numbers,
    )


def _ingest(stubs: Stubs, *events: types_pb2.Event) -> ev.IngestEventsResponse:
    return stubs.events.IngestEvents(iter([ev.IngestEventsRequest(events=list(events))]))


def _with(event: types_pb2.Event, **fields: object) -> types_pb2.Event:
    copy = types_pb2.Event()
    copy.CopyFrom(event)
    for name, value in fields.items():
        setattr(copy, name, value)
    return copy


def _future(event: types_pb2.Event, seconds: float) -> types_pb2.Event:
    copy = _with(event)
    copy.time.seconds = int(seconds)  # set directly: FromSeconds refuses what a wire can carry
    return copy


NOW = 1_800_000_000.0
EVENT_CASES: dict[str, tuple[list[types_pb2.Event], str]] = {
    "group NaN numeric trait": (
        [track("ok-1"), _group("new-1", "acme", seats=NAN)],
        "events[1].numeric_traits['seats']",
    ),
    "identify NaN trait": (
        [
            types_pb2.Event(
                message_id="i1",
                kind=types_pb2.EVENT_KIND_IDENTIFY,
                entity_id="p1",
                numeric_traits={"age": NAN},
            )
        ],
        "events[0].numeric_traits['age']",
    ),
    "identify infinite trait": (
        [
            types_pb2.Event(
                message_id="i2",
                kind=types_pb2.EVENT_KIND_IDENTIFY,
                entity_id="p1",
                numeric_traits={"age": -INF},
            )
        ],
        "events[0].numeric_traits['age']",
    ),
    "track value NaN": ([_with(track("p2"), value=NAN)], "events[0].value"),
    "metric infinite": (
        [types_pb2.Event(message_id="x", kind=1, entity_id="p", event="e", metrics={"m": INF})],
        "events[0].metrics['m']",
    ),
    "NUL in entity id": ([track("victim\0x")], "events[0].entity_id"),
    "NUL in message id": ([track("p3", message_id="m\0")], "events[0].message_id"),
    "control char in event name": ([track("p3", event="page\x1bview")], "events[0].event"),
    "NUL in account id": ([_group("p4", "acme\0evil")], "events[0].account_id"),
    "NUL in a property key": ([track("p5", **{"k\0": "v"})], "events[0].properties"),
    "control char in a property value": (
        [track("p5", plan="a\x00b")],
        "events[0].properties['plan']",
    ),
    "id over the byte limit": ([track("x" * (LIMITS.max_id_bytes + 1))], "events[0].entity_id"),
    "a 2 MB id": ([track("y" * 2_000_000)], "events[0].entity_id"),
    "multi-byte id over the limit": (
        [track("é" * (LIMITS.max_id_bytes // 2 + 1))],
        "events[0].entity_id",
    ),
    "event name over the limit": (
        [track("p6", event="e" * (LIMITS.max_name_bytes + 1))],
        "events[0].event",
    ),
    "too many properties": (
        [track("p7", **{f"k{i}": "v" for i in range(LIMITS.max_map_entries + 1)})],
        "events[0].properties",
    ),
    "time before 1970": ([_future(track("p8"), -10)], "events[0].time"),
    "time after 9999": ([_future(track("p8"), 300_000_000_000)], "events[0].time"),
    "time too far in the future": (
        [_future(track("p8"), NOW + LIMITS.max_future_seconds + 60)],
        "events[0].time",
    ),
}


@pytest.fixture
def seeded(stubs: Stubs) -> tuple[Stubs, float]:
    """A bystander with a stored score; returns (stubs, its score)."""
    stubs.handle.clock.set(NOW)
    _ingest(stubs, identify("bystander"), track("bystander"), track("bystander"))
    return stubs, _stored_score(stubs, "bystander")


def _stored_score(stubs: Stubs, entity_id: str) -> float:
    response = stubs.scoring.ScoreEntities(
        sc.ScoreEntitiesRequest(
            profile="test_leads", stored=sc.StoredEntities(entity_ids=[entity_id])
        )
    )
    return response.scores[0].score


def _refused(call: Callable[[], object]) -> dict[str, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return field_violations(caught.value)


@pytest.mark.parametrize("case", sorted(EVENT_CASES))
def test_bad_events_are_refused_naming_the_field_and_write_nothing(
    seeded: tuple[Stubs, float], case: str
) -> None:
    stubs, before = seeded
    events, field = EVENT_CASES[case]
    count = stubs.handle.call(lambda: stubs.handle.service.store.count_events())
    violations = _refused(lambda: _ingest(stubs, *events))
    assert f"messages[0].{field}" in violations, violations
    assert stubs.handle.call(lambda: stubs.handle.service.store.count_events()) == count
    assert _stored_score(stubs, "bystander") == before
    # The bystander is untouched and ingest still works for everyone afterwards.
    assert _ingest(stubs, track("bystander")).accepted == 1
    assert _stored_score(stubs, "bystander") > before


def test_a_batch_over_the_documented_event_limit_is_refused(seeded: tuple[Stubs, float]) -> None:
    stubs, _ = seeded
    events = [track(f"e{i}") for i in range(LIMITS.max_events_per_request + 1)]
    assert "messages[0].events" in _refused(lambda: _ingest(stubs, *events))


def test_upsert_with_a_nan_attribute_is_refused(seeded: tuple[Stubs, float]) -> None:
    stubs, _ = seeded
    request = ev.UpsertEntitiesRequest(
        entities=[
            types_pb2.Entity(id="ok", kind="contact"),
            types_pb2.Entity(id="acct", numeric_attributes={"seats": NAN}),
        ]
    )
    violations = _refused(lambda: stubs.events.UpsertEntities(request))
    assert "entities[1].numeric_attributes['seats']" in violations
    assert stubs.handle.call(lambda: stubs.handle.service.store.get_entities(["ok", "acct"])) == {}


def test_stored_ids_are_checked(seeded: tuple[Stubs, float]) -> None:
    stubs, _ = seeded

    def score(ids: list[str]) -> object:
        return stubs.scoring.ScoreEntities(
            sc.ScoreEntitiesRequest(profile="test_leads", stored=sc.StoredEntities(entity_ids=ids))
        )

    assert "stored.entity_ids[1]" in _refused(lambda: score(["bystander", "by\0stander"]))
    too_many = [f"id{i}" for i in range(LIMITS.max_ids_per_request + 1)]
    assert "stored.entity_ids" in _refused(lambda: score(too_many))


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (sc.RankEntitiesRequest(profile="test_leads", min_score=NAN), "min_score"),
        (sc.RankEntitiesRequest(profile="test_leads", account_id="a\0"), "account_id"),
        (sc.RankEntitiesRequest(profile="test\x01leads"), "profile"),
        (sc.RankEntitiesRequest(profile="test_leads", tiers=["hot\0"]), "tiers[0]"),
    ],
)
def test_scalar_fields_of_any_rpc_are_checked(
    seeded: tuple[Stubs, float], request_: sc.RankEntitiesRequest, field: str
) -> None:
    stubs, _ = seeded
    assert field in _refused(lambda: stubs.scoring.RankEntities(request_))


@pytest.mark.parametrize(
    "shape", [[2**62, 0], [0, 2**62], [-1, 2], [LIMITS.max_rows_per_batch + 1, 0], [1]]
)
def test_matrix_shapes_are_checked_before_allocation(
    seeded: tuple[Stubs, float], shape: list[int]
) -> None:
    stubs, _ = seeded
    request = sc.StreamScoresRequest(
        profile="test_leads", features=types_pb2.Matrix(dtype=types_pb2.DTYPE_FLOAT64, shape=shape)
    )
    violations = _refused(lambda: list(stubs.scoring.StreamScores(iter([request]))))
    assert any(name.endswith("features.shape") for name in violations), violations


def _forge(position: object, query: str = "") -> str:
    raw = json.dumps({"q": query, "p": position}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        _forge([{}, {}]),
        _forge([None, "x"]),
        _forge([[[[[[]]]]]] * 2),
        _forge([0.0, "x"]) + ".AAAA",
        "[" * 5000,
        "not base64 at all ~~~",
    ],
)
def test_forged_page_tokens_are_refused(seeded: tuple[Stubs, float], token: str) -> None:
    stubs, _ = seeded
    request = sc.RankEntitiesRequest(profile="test_leads", page_size=1, page_token=token)
    assert "page_token" in _refused(lambda: stubs.scoring.RankEntities(request))


def test_a_token_is_bound_to_its_query(seeded: tuple[Stubs, float]) -> None:
    stubs, _ = seeded
    _ingest(stubs, track("second"))
    first = stubs.scoring.RankEntities(sc.RankEntitiesRequest(profile="test_leads", page_size=1))
    assert first.next_page_token
    # Tampering with any character of a real token breaks its signature.
    token = first.next_page_token
    tampered = token[:3] + ("A" if token[3] != "A" else "B") + token[4:]
    request = sc.RankEntitiesRequest(profile="test_leads", page_size=1, page_token=tampered)
    assert "page_token" in _refused(lambda: stubs.scoring.RankEntities(request))
    other = sc.RankEntitiesRequest(profile="test_leads", page_size=1, page_token=token, min_score=1)
    assert "page_token" in _refused(lambda: stubs.scoring.RankEntities(other))


def test_history_paging_keeps_points_that_share_a_timestamp(stubs: Stubs) -> None:
    stubs.handle.clock.set(NOW)
    for _ in range(9):  # nine scores at one instant: nine points with the same time
        _ingest(stubs, track("same-time"))
    seen = []
    token = ""
    for _ in range(20):
        page = stubs.scoring.GetScoreHistory(
            sc.GetScoreHistoryRequest(
                entity_id="same-time", profile="test_leads", page_size=1, page_token=token
            )
        )
        seen += [p.score for p in page.points]
        token = page.next_page_token
        if not token:
            break
    everything = stubs.scoring.GetScoreHistory(
        sc.GetScoreHistoryRequest(entity_id="same-time", profile="test_leads", page_size=100)
    )
    assert len(everything.points) >= 5
    assert seen == [p.score for p in everything.points]


def _profile(signals: int, match: str = 'plan = "pro"') -> str:
    blocks = "".join(
        f'[[signals]]\nname = "s{i}"\nevent = "e{i}"\naggregate = "count"\nweight = 1\n'
        f"cap = 5\nmatch = {{ {match} }}\n"
        for i in range(signals)
    )
    return (
        '[profile]\nname = "probe"\nversion = 1\nentity = "contact"\n'
        f'{blocks}[tiers]\nnames = ["cold", "hot"]\nthresholds = [0, 50]\n'
    )


@pytest.mark.parametrize(
    ("toml", "reason"),
    [
        (_profile(1, '"pl\\"an" = "x"'), "double quote"),
        (_profile(1, '"pl\\\\an" = "x"'), "backslash"),
        (_profile(1, '"pl\\u0000an" = "x"'), "control character"),
        (_profile(LIMITS.max_profile_signals + 1), "at most"),
        (_profile(1, "plan = [" + ", ".join(['"v"'] * 513) + "]"), "at most"),
    ],
)
def test_profiles_the_store_could_not_serve_are_invalid(
    stubs: Stubs, toml: str, reason: str
) -> None:
    from prioscore.v1 import profile_service_pb2 as pb

    result = stubs.profiles.ValidateProfile(pb.ValidateProfileRequest(toml=toml))
    assert not result.valid
    assert any(reason in issue.reason for issue in result.issues), result.issues[:3]
    # Staging it fails the same way, and nothing about ingest changes.
    with pytest.raises(grpc.RpcError) as caught:
        stubs.profiles.StageProfile(pb.StageProfileRequest(toml=toml))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _ingest(stubs, track("after-profile")).accepted == 1


def test_a_non_ascii_match_key_matches(stubs: Stubs, profiles_dir: Path) -> None:
    """Any legal key the store can search is handled: 'é' and spaces match stored events."""
    from prioscore.v1 import profile_service_pb2 as pb

    toml = _profile(1, '"pla n é" = "x"')
    assert stubs.profiles.ValidateProfile(pb.ValidateProfileRequest(toml=toml)).valid
    (profiles_dir / "probe.toml").write_text(toml)
    stubs.profiles.ReloadProfiles(pb.ReloadProfilesRequest())
    stubs.handle.clock.set(NOW)
    _ingest(stubs, track("u1", event="e0", **{"pla n é": "x"}), track("u2", event="e0"))
    scores = {
        s.entity_id: s.score
        for s in stubs.scoring.ScoreEntities(
            sc.ScoreEntitiesRequest(
                profile="probe", stored=sc.StoredEntities(entity_ids=["u1", "u2"])
            )
        ).scores
    }
    assert scores["u1"] > scores["u2"] == 0


def test_the_proto_documents_the_limits() -> None:
    from tests.conftest import ROOT

    text = (ROOT / "protos/prioscore/v1/types.proto").read_text()
    for number in (
        LIMITS.max_events_per_request,
        LIMITS.max_rows_per_batch,
        LIMITS.max_matrix_columns,
        LIMITS.max_ids_per_request,
        LIMITS.max_id_bytes,
        LIMITS.max_name_bytes,
        LIMITS.max_value_bytes,
        LIMITS.max_map_entries,
        LIMITS.max_profile_bytes,
        LIMITS.max_profile_signals,
        int(LIMITS.max_future_seconds),
    ):
        assert f"{number:,}" in text or f" {number} " in text, number


def test_outcome_ids_are_checked_as_one_column() -> None:
    """Backtest/Calibrate outcomes: their ids are checked as a column (rpc/contract.py),
    each violation named by its outcome; the id is Outcome's only string to check."""
    fields = [(f.name, f.type) for f in types_pb2.Outcome.DESCRIPTOR.fields]
    assert fields == [  # a new string field would need its own check
        ("entity_id", FieldDescriptor.TYPE_STRING),
        ("label", FieldDescriptor.TYPE_BOOL),
        ("outcome_time", FieldDescriptor.TYPE_MESSAGE),  # a Timestamp: nothing to check
    ]
    outcomes = [types_pb2.Outcome(entity_id=f"c{i}") for i in range(5)]
    outcomes[1].entity_id = "c\x01"
    outcomes[3].entity_id = "c" * (LIMITS.max_id_bytes + 1)
    request = pb.BacktestRequest(profile="test_leads", outcomes=outcomes)
    with pytest.raises(InvalidArgumentError) as refused:
        check_request(request, LIMITS)
    named = sorted(v.field for v in refused.value.violations)
    assert named == ["outcomes[1].entity_id", "outcomes[3].entity_id"]
    check_request(pb.BacktestRequest(profile="test_leads", outcomes=outcomes[4:]), LIMITS)
