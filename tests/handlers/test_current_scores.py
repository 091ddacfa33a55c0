"""Service.current_scores without transport and without the clock's sweeps (the handlers
are not started): when a stored score may answer a ScoreEntities as of now."""

from __future__ import annotations

from prioscore.server.handlers import Handlers, IncomingEntity
from tests.handlers.conftest import NOW, tracks

PROFILE = "lead_qualification"
COMPETITOR = {"relationship": "competitor"}


def test_a_stored_score_answers_only_while_it_is_current(handlers: Handlers) -> None:
    service, clock = handlers.service, handlers.clock
    service.ingest(
        tracks([("c1", "page_view", 1, {"url": "/pricing"}), ("c2", "page_view", 2, {})])
    )
    refresh = service.get_profile(PROFILE).refresh_seconds
    clock.set(NOW + refresh)  # the oldest a stored score may be
    rows = service.current_scores(PROFILE, ["c2", "c1", "c2"])
    assert rows is not None
    assert [(r.entity_id, r.updated) for r in rows] == [("c2", NOW), ("c1", NOW), ("c2", NOW)]
    assert rows == [service.get_entity(r.entity_id, with_scores=True)[1][0] for r in rows]
    clock.set(NOW + refresh + 0.001)  # older than the refresh: no sweep ran
    assert service.current_scores(PROFILE, ["c1"]) is None
    clock.set(NOW - 1)  # a score of a later time than now is not "as of now" either
    assert service.current_scores(PROFILE, ["c1"]) is None


def test_one_row_that_cannot_answer_sends_the_whole_request_to_be_computed(
    handlers: Handlers,
) -> None:
    service = handlers.service
    service.ingest(tracks([("c1", "page_view", 1, {"url": "/pricing"})]))
    assert service.current_scores(PROFILE, ["c1"]) is not None
    assert service.current_scores(PROFILE, ["c1", "unknown"]) is None  # score_stored: NOT_FOUND
    service.ingest(tracks([("rival", "page_view", 1, {})], prefix="r"))
    assert service.current_scores(PROFILE, ["c1", "rival"]) is not None
    service.upsert_entities([IncomingEntity("rival", "contact", attributes=COMPETITOR)])
    # A disqualified row: the scores table keeps no reason, so the request is computed.
    assert service.current_scores(PROFILE, ["c1", "rival"]) is None
    assert service.score_stored(PROFILE, ["rival"]).result.disqualified.all()
    assert service.current_scores(PROFILE, ["c1"]) is not None
