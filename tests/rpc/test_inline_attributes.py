"""Inline ScoreEntities over gRPC reads attributes as ingesting the request would store
them: listed, else the events' identify/group traits, else stored, else none."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import (
    types_pb2,
)
from tests.rpc.conftest import Stubs, field_violations, identify, track

# Fit points out of 100 (so `fit` is the points): seniority, a level keyed by numbers
# ("3" matches a numeric trait 3, as the store reads it), employees.
PROFILE = """
[profile]
name = "inline_fit"
version = 1
entity = "contact"
description = "Fit points sum to 100: fit reads as the points awarded"

[scoring]
max_points = 100

[[signals]]
name = "visits"
event = "page_view"
aggregate = "count"
weight = 10
cap = 50

[[fit]]
attribute = "seniority"
points = { vp = 20, manager = 10 }

[[fit]]
attribute = "level"
points = { "3" = 30, "2.5" = 5 }

[[fit]]
attribute = "employees"
ranges = [{ min = 100, points = 50 }]

[[disqualify]]
attribute = "relationship"
in = ["customer"]
reason = "customer"

[tiers]
cold = 0
warm = 40
hot = 70
"""


@pytest.fixture
def profiles_dir(profiles_dir: Path) -> Path:
    """The test profiles and inline_fit (the conftest's `stubs` serve this directory)."""
    (profiles_dir / "inline_fit.toml").write_text(PROFILE)
    return profiles_dir


def _upsert(stubs: Stubs) -> None:
    """c1: a vp of a 500-person company; c2: a customer."""
    stubs.events.UpsertEntities(
        ev.UpsertEntitiesRequest(
            entities=[
                types_pb2.Entity(
                    id="c1",
                    kind="contact",
                    attributes={"seniority": "vp"},
                    numeric_attributes={"employees": 500},
                ),
                types_pb2.Entity(id="c2", kind="contact", attributes={"relationship": "customer"}),
            ]
        )
    )


def _events() -> list[types_pb2.Event]:
    group = types_pb2.Event(
        message_id="g4",
        kind=types_pb2.EVENT_KIND_GROUP,
        entity_id="c4",
        account_id="acct",
        traits={"seniority": "vp"},  # the account's, not c4's
    )
    level = identify("c3")
    level.numeric_traits["level"] = 3  # a number read by a rule keyed on text
    half = identify("c4")
    half.numeric_traits["level"] = 2.5
    return [group, level, half, *(track(c) for c in ("c1", "c2", "c3", "c4"))]


def _scores(stubs: Stubs, request: sc.ScoreEntitiesRequest) -> dict[str, types_pb2.Score]:
    return {s.entity_id: s for s in stubs.scoring.ScoreEntities(request).scores}


def test_inline_events_read_listed_then_traits_then_stored_attributes(stubs: Stubs) -> None:
    _upsert(stubs)
    listed = [types_pb2.Entity(id="c1", attributes={"seniority": "manager"})]
    request = sc.ScoreEntitiesRequest(
        profile="inline_fit", inline_events=sc.InlineEvents(events=_events(), entities=listed)
    )
    scores = _scores(stubs, request)
    assert scores["c1"].fit == pytest.approx(10 + 50)  # listed seniority, stored employees
    assert scores["c2"].disqualified and not scores["c1"].disqualified
    assert scores["c3"].fit == pytest.approx(30)  # its identify's numeric trait, as "3"
    assert scores["c4"].fit == pytest.approx(5)  # its own "2.5"; the group's vp is acct's


def test_inline_features_read_listed_then_stored_attributes(stubs: Stubs) -> None:
    _upsert(stubs)
    ids = ["c1", "c2", "ghost"]
    request = sc.ScoreEntitiesRequest(
        profile="inline_fit",
        inline_features=sc.InlineFeatures(
            features=types_pb2.Matrix(
                shape=[3, 1], dtype=types_pb2.DTYPE_FLOAT64, data=bytes(8 * 3)
            ),
            entity_ids=ids,
            entities=[types_pb2.Entity(id="ghost", numeric_attributes={"employees": 200})],
        ),
    )
    scores = _scores(stubs, request)
    assert scores["c1"].fit == pytest.approx(20 + 50)  # stored
    assert scores["c2"].disqualified
    assert scores["ghost"].fit == pytest.approx(50)  # listed; unknown to the store


def test_an_unknown_unlisted_id_has_no_attributes(stubs: Stubs) -> None:
    _upsert(stubs)
    request = sc.ScoreEntitiesRequest(
        profile="inline_fit", inline_events=sc.InlineEvents(events=[track("nobody"), track("c1")])
    )
    scores = _scores(stubs, request)
    assert scores["nobody"].fit == 0 and not scores["nobody"].disqualified
    assert scores["c1"].fit == pytest.approx(70)  # the stored vp and employees


def test_an_inline_what_if_equals_an_ingest_of_the_same_events(stubs: Stubs) -> None:
    _upsert(stubs)
    events = _events()
    inline = _scores(
        stubs,
        sc.ScoreEntitiesRequest(profile="inline_fit", inline_events=sc.InlineEvents(events=events)),
    )
    stubs.events.IngestEvents(iter([ev.IngestEventsRequest(events=events)]))
    stubs.handle.settle()
    ids = sorted(inline)
    stored = _scores(
        stubs,
        sc.ScoreEntitiesRequest(profile="inline_fit", stored=sc.StoredEntities(entity_ids=ids)),
    )
    assert [inline[i].fit for i in ids] == [stored[i].fit for i in ids]
    assert [inline[i].disqualified for i in ids] == [stored[i].disqualified for i in ids]
    assert [inline[i].fit for i in ids] == pytest.approx([70, 0, 30, 5])


def test_listed_entities_without_ids_are_refused(stubs: Stubs) -> None:
    """Listed attributes find their rows by id: without ids (INTERNAL before)."""
    request = sc.ScoreEntitiesRequest(
        profile="inline_fit",
        inline_features=sc.InlineFeatures(
            features=types_pb2.Matrix(shape=[1, 1], dtype=types_pb2.DTYPE_FLOAT64, data=bytes(8)),
            entities=[types_pb2.Entity(id="c1", attributes={"seniority": "vp"})],
        ),
    )
    with pytest.raises(grpc.RpcError) as caught:
        stubs.scoring.ScoreEntities(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "inline_features.entity_ids" in field_violations(caught.value)
