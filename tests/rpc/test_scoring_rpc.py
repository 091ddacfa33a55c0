"""ScoringService and EventService through the generated stubs on a real server."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from prioscore.server.rpc import convert
from prioscore.server.rpc.convert import OFFLOAD_ROWS
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.rpc.conftest import Stubs, field_violations, identify, track


def ingest(stubs: Stubs, *events: types_pb2.Event) -> ev.IngestEventsResponse:
    return stubs.events.IngestEvents(iter([ev.IngestEventsRequest(events=list(events))]))


def stored_scores(stubs: Stubs, *ids: str, explain: bool = False) -> list[types_pb2.Score]:
    request = sc.ScoreEntitiesRequest(
        profile="test_leads", stored=sc.StoredEntities(entity_ids=list(ids)), explain=explain
    )
    return list(stubs.scoring.ScoreEntities(request).scores)


def test_ingest_scores_and_redelivery_is_counted_once(stubs: Stubs) -> None:
    events = [track("c1", message_id=f"v{i}") for i in range(3)]
    first = ingest(stubs, *events)
    assert (first.accepted, first.duplicates, first.entities_rescored) == (3, 0, 1)
    [score] = stored_scores(stubs, "c1")
    assert score.score == pytest.approx(30.0) and score.tier == "cold"

    again = ingest(stubs, *events)
    assert (again.accepted, again.duplicates) == (0, 3)
    [score] = stored_scores(stubs, "c1")
    assert score.score == pytest.approx(30.0)
    assert stubs.handle.service.store.count_events() == 3


def test_explain_returns_contributions_and_top_reasons(stubs: Stubs) -> None:
    ingest(stubs, track("c1"), track("c1"), track("c1", "form_submit"))
    [score] = stored_scores(stubs, "c1", explain=True)
    assert score.score == pytest.approx(70.0) and score.tier == "hot"
    points = {c.name: (c.feature, c.points) for c in score.contributions}
    assert points == {"visits": (2.0, 20.0), "demo": (1.0, 50.0)}
    assert [r.name for r in score.top_reasons] == ["demo", "visits"]


def test_disqualified_entity_is_flagged_and_left_out_of_ranking(stubs: Stubs) -> None:
    ingest(stubs, track("rival"), identify("rival", relationship="competitor"), track("c2"))
    [score] = stored_scores(stubs, "rival")
    assert score.disqualified and score.tier == "" and "competitor" in score.disqualify_reason
    ranked = stubs.scoring.RankEntities(sc.RankEntitiesRequest(profile="test_leads"))
    assert [s.entity_id for s in ranked.scores] == ["c2"]
    with_all = stubs.scoring.RankEntities(
        sc.RankEntitiesRequest(profile="test_leads", include_disqualified=True)
    )
    assert {s.entity_id for s in with_all.scores} == {"c2", "rival"}


def test_rank_pages_through_every_entity_in_order(stubs: Stubs) -> None:
    events = [track(f"e{n:02d}") for n in range(25) for _ in range(n % 6 + 1)]
    events += [track(f"e{n:02d}", "form_submit") for n in range(0, 25, 5)]
    ingest(stubs, *events)
    seen: list[types_pb2.Score] = []
    token = ""
    pages = 0
    while True:
        page = stubs.scoring.RankEntities(
            sc.RankEntitiesRequest(profile="test_leads", page_size=7, page_token=token)
        )
        pages += 1
        assert page.total_size == 25
        seen.extend(page.scores)
        token = page.next_page_token
        if not token:
            break
    assert pages == 4 and len(seen) == 25
    assert len({s.entity_id for s in seen}) == 25
    keys = [(-s.score, s.entity_id) for s in seen]
    assert keys == sorted(keys)

    hot = stubs.scoring.RankEntities(sc.RankEntitiesRequest(profile="test_leads", tiers=["hot"]))
    assert hot.scores and all(s.tier == "hot" for s in hot.scores)
    assert hot.total_size == sum(1 for s in seen if s.tier == "hot")
    above = stubs.scoring.RankEntities(sc.RankEntitiesRequest(profile="test_leads", min_score=40))
    assert {s.entity_id for s in above.scores} == {s.entity_id for s in seen if s.score >= 40}


def test_history_is_newest_first_and_paged(stubs: Stubs) -> None:
    for _ in range(4):
        ingest(stubs, track("c1"))
    first = stubs.scoring.GetScoreHistory(
        sc.GetScoreHistoryRequest(entity_id="c1", profile="test_leads", page_size=3)
    )
    assert [p.score for p in first.points] == [40.0, 30.0, 20.0]
    rest = stubs.scoring.GetScoreHistory(
        sc.GetScoreHistoryRequest(
            entity_id="c1", profile="test_leads", page_size=3, page_token=first.next_page_token
        )
    )
    assert [p.score for p in rest.points] == [10.0] and not rest.next_page_token


def test_erase_removes_events_scores_and_history(stubs: Stubs) -> None:
    ingest(stubs, track("gone"), track("gone"), track("kept"))
    erased = stubs.events.EraseEntity(ev.EraseEntityRequest(entity_id="gone"))
    assert erased.events_removed == 2 and erased.scores_removed == 1 and erased.entity_removed
    assert erased.history_removed >= 1
    with pytest.raises(grpc.RpcError) as caught:
        stored_scores(stubs, "gone")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert [s.score for s in stored_scores(stubs, "kept")] == [10.0]
    again = stubs.events.EraseEntity(ev.EraseEntityRequest(entity_id="gone"))
    assert (again.events_removed, again.entity_removed) == (0, False)  # idempotent


def test_tier_change_reaches_a_watcher_after_ingest(stubs: Stubs) -> None:
    ingest(stubs, track("c1"), track("c1"), track("c1"))  # 30: cold
    call = stubs.scoring.WatchTierChanges(sc.WatchTierChangesRequest(profile="test_leads"))
    received: list[types_pb2.TierChange] = []

    def read() -> None:
        for response in call:
            received.append(response.change)
            return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while stubs.handle.service.hub.watcher_count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stubs.handle.service.hub.watcher_count == 1
    ingest(stubs, track("c1", message_id="to-warm"))  # 40: warm
    reader.join(timeout=10)
    call.cancel()
    [change] = received
    assert (change.entity_id, change.previous_tier, change.tier) == ("c1", "cold", "warm")
    assert change.cause_message_id == "to-warm" and change.score == pytest.approx(40.0)


def test_stream_scores_matches_unary_inline_features(stubs: Stubs) -> None:
    rng = np.random.default_rng(7)
    batches = [rng.uniform(0, 8, size=(n, 2)) for n in (5, 1000, 3)]
    batches[0][:, 1] = [0, 1, 0, 1, 1]

    def requests():  # type: ignore[no-untyped-def]
        for i, batch in enumerate(batches):
            yield sc.StreamScoresRequest(
                profile="test_leads",
                sequence=i,
                features=types_pb2.Matrix(
                    dtype=types_pb2.DTYPE_FLOAT64, shape=batch.shape, data=batch.tobytes()
                ),
            )

    responses = list(stubs.scoring.StreamScores(requests()))
    assert [r.sequence for r in responses] == [0, 1, 2]
    for batch, response in zip(batches, responses, strict=True):
        scores = np.frombuffer(response.scores.data, dtype="<f8")
        expected = np.minimum(batch[:, 0] * 10, 50) + np.minimum(batch[:, 1] * 50, 50)
        np.testing.assert_allclose(scores, np.clip(expected, 0, 100))
        tiers = np.frombuffer(response.tiers.data, dtype="<i4")
        np.testing.assert_array_equal(tiers, np.searchsorted([0, 40, 70], scores, "right") - 1)
    unary = stubs.scoring.ScoreEntities(
        sc.ScoreEntitiesRequest(
            profile="test_leads",
            inline_features=sc.InlineFeatures(
                features=types_pb2.Matrix(shape=[5, 2], values=batches[0].ravel().tolist())
            ),
        )
    )
    np.testing.assert_allclose(
        [s.score for s in unary.scores], np.frombuffer(responses[0].scores.data, "<f8")
    )


def test_inline_events_are_scored_without_being_stored(stubs: Stubs) -> None:
    request = sc.ScoreEntitiesRequest(
        profile="test_leads",
        inline_events=sc.InlineEvents(events=[track("x"), track("x"), track("y", "form_submit")]),
    )
    scores = {s.entity_id: s.score for s in stubs.scoring.ScoreEntities(request).scores}
    assert scores == {"x": 20.0, "y": 50.0}
    assert stubs.handle.service.store.count_events() == 0


def test_rejected_ingest_names_the_field_and_writes_nothing(stubs: Stubs) -> None:
    good = track("c1")
    bad = types_pb2.Event(kind=types_pb2.EVENT_KIND_TRACK, entity_id="c1", event="page_view")
    with pytest.raises(grpc.RpcError) as caught:
        ingest(stubs, good, bad)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[0].events[1].message_id" in field_violations(caught.value)
    assert stubs.handle.service.store.count_events() == 0


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (sc.ScoreEntitiesRequest(profile="nope", stored=sc.StoredEntities(entity_ids=["a"])),
         grpc.StatusCode.NOT_FOUND, None),
        (sc.ScoreEntitiesRequest(profile="test_leads"), grpc.StatusCode.INVALID_ARGUMENT, "source"),
        (sc.ScoreEntitiesRequest(
            profile="test_leads",
            inline_features=sc.InlineFeatures(
                features=types_pb2.Matrix(shape=[1, 3], values=[1, 2, 3])),
        ), grpc.StatusCode.INVALID_ARGUMENT, "inline_features.features.shape"),
        (sc.ScoreEntitiesRequest(
            profile="test_leads",
            inline_features=sc.InlineFeatures(features=types_pb2.Matrix(
                shape=[2, 2], dtype=types_pb2.DTYPE_FLOAT64, data=b"\0" * 8)),
        ), grpc.StatusCode.INVALID_ARGUMENT, "inline_features.features.data"),
        (sc.ScoreEntitiesRequest(
            profile="test_leads", stored=sc.StoredEntities(entity_ids=["ghost"])),
         grpc.StatusCode.NOT_FOUND, None),
        (sc.ScoreEntitiesRequest(
            profile="test_leads", inline_features=sc.InlineFeatures(),
            as_of=Timestamp(seconds=2**63 - 512)),
         grpc.StatusCode.INVALID_ARGUMENT, "as_of"),
    ],
)  # fmt: skip
def test_score_errors(stubs: Stubs, request_: sc.ScoreEntitiesRequest, code: grpc.StatusCode,
                      field: str | None) -> None:  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        stubs.scoring.ScoreEntities(request_)
    assert caught.value.code() == code
    if field is not None:
        assert field in field_violations(caught.value)


def test_bad_page_token_and_unknown_tier_are_invalid(stubs: Stubs) -> None:
    for request in (
        sc.RankEntitiesRequest(profile="test_leads", page_token="garbage!"),
        sc.RankEntitiesRequest(profile="test_leads", tiers=["lukewarm"]),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            stubs.scoring.RankEntities(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(caught.value)) & {"page_token", "tiers"}


def test_a_large_request_is_scored_off_the_loop(
    stubs: Stubs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one caller's large batch is scored, the loop serves everyone else: here the
    large call is held inside its scoring until a small call has been answered. (Kept
    below convert.PROCESS_BYTES, where a worker thread scores it, not a worker process:
    tests/rpc/test_inline_process.py.)"""
    monkeypatch.setattr(convert, "PROCESS_BYTES", 1 << 30)
    ingest(stubs, track("c1"))
    service = stubs.handle.service
    entered, release = threading.Event(), threading.Event()
    score_events = service.score_events

    def held(*args: object, **kwargs: object) -> object:
        entered.set()
        release.wait(30)
        return score_events(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "score_events", held)
    events = [track(f"x{i % 50}") for i in range(OFFLOAD_ROWS + 1)]
    large = sc.ScoreEntitiesRequest(
        profile="test_leads", inline_events=sc.InlineEvents(events=events)
    )
    pending = stubs.scoring.ScoreEntities.future(large, timeout=60)
    try:
        assert entered.wait(30)
        [score] = stored_scores(stubs, "c1")  # answered by the loop meanwhile
        assert score.entity_id == "c1" and not pending.done()
    finally:
        release.set()
    assert len(pending.result().scores) == 50


def test_a_large_ingest_batch_is_converted_off_the_loop_and_checked_alike(stubs: Stubs) -> None:
    events = [track(f"c{i % 7}") for i in range(OFFLOAD_ROWS + 1)]
    assert ingest(stubs, *events).accepted == OFFLOAD_ROWS + 1
    bad = [track("c1") for _ in range(OFFLOAD_ROWS + 1)]
    bad[-1].message_id = ""
    with pytest.raises(grpc.RpcError) as caught:
        ingest(stubs, *bad)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"messages[0].events[{OFFLOAD_ROWS}].message_id" in field_violations(caught.value)


def test_a_stream_stores_every_batch_before_a_bad_one_and_none_after(stubs: Stubs) -> None:
    # More batches than the stream queues at once (rpc/streams.IN_FLIGHT), so some
    # wait for the writer together and are stored as one group.
    good = [
        ev.IngestEventsRequest(events=[track(f"s{k}", message_id=f"s{k}-{i}") for i in range(3)])
        for k in range(12)
    ]
    first = stubs.events.IngestEvents(iter(good[:6]), timeout=30)
    assert (first.accepted, first.duplicates, first.entities_rescored) == (18, 0, 6)
    nameless = track("s-bad")
    nameless.message_id = ""
    bad = ev.IngestEventsRequest(events=[nameless])
    with pytest.raises(grpc.RpcError) as caught:
        stubs.events.IngestEvents(iter([*good[6:9], bad, *good[9:]]), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[3].events[0].message_id" in field_violations(caught.value)
    stored = {s.entity_id for s in stored_scores(stubs, *(f"s{k}" for k in range(9)))}
    assert stored == {f"s{k}" for k in range(9)}
    with pytest.raises(grpc.RpcError) as unknown:  # sent after the bad batch: not stored
        stored_scores(stubs, "s9")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    again = stubs.events.IngestEvents(iter(good), timeout=30)  # a retry of everything
    assert (again.accepted, again.duplicates) == (9, 27)
