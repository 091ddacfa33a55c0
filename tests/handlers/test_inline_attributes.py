"""Inline scoring reads attributes as ingesting the same request would store them
(handlers/inline_attributes.py): per attribute, the listed entity's, else the events'
identify/group traits (in the order sent), else the stored entity's, else none."""

from __future__ import annotations

import numpy as np

from prioscore.server.engine import CategoricalColumn
from prioscore.server.handlers import (
    GROUP,
    IDENTIFY,
    TRACK,
    Handlers,
    IncomingEntity,
    IncomingEvents,
)
from prioscore.server.scoring import Scored
from tests.handlers.conftest import DAY, NOW

LEADS = "lead_qualification"  # fit: seniority (points), employees (ranges), industry
# lead_qualification's fit points: seniority vp 16, director 12, manager 8; employees
# 200-1000 15, 50-200 10; industry software 10; of 45 in all.
FIT_MAX = 45.0


def messages(rows: list[tuple[str, str, dict[str, str], dict[str, float], str]]) -> IncomingEvents:
    """Messages from (kind, entity, traits, numeric traits, account) rows; a track row is
    a pricing page view a day before NOW, an identify or group row has no time."""
    n = len(rows)
    return IncomingEvents(
        message_id=[f"x-{i}" for i in range(n)],
        kind=[r[0] for r in rows],
        entity_id=[r[1] for r in rows],
        event=["page_view" if r[0] == TRACK else "" for r in rows],
        ts=np.array([NOW - DAY if r[0] == TRACK else np.nan for r in rows]),
        value=np.full(n, np.nan),
        properties=[{"url": "/pricing"} if r[0] == TRACK else {} for r in rows],
        metrics=[{} for _ in rows],
        traits=[r[2] for r in rows],
        numeric_traits=[r[3] for r in rows],
        account_id=[r[4] for r in rows],
        entity_kind=["contact"] * n,
    )


def viewed(*entities: str) -> list[tuple[str, str, dict[str, str], dict[str, float], str]]:
    return [(TRACK, e, {}, {}, "") for e in entities]


def fit_points(scored: Scored, entity_id: str) -> float:
    return float(scored.result.fit[scored.entity_ids.index(entity_id)]) * FIT_MAX / 100.0


def texts(column: np.ndarray | CategoricalColumn) -> list[str]:
    """A text attribute column's values ("" missing), in either of the engine's forms."""
    if isinstance(column, CategoricalColumn):
        words = (*column.vocabulary, "")  # code -1: missing
        return [words[code] for code in column.codes.tolist()]
    return [str(v) for v in column.tolist()]


def stored(handlers: Handlers, entity_id: str, **attributes: str | float) -> None:
    texts = {k: v for k, v in attributes.items() if isinstance(v, str)}
    numbers = {k: float(v) for k, v in attributes.items() if not isinstance(v, str)}
    handlers.service.upsert_entities([IncomingEntity(entity_id, "contact", "", texts, numbers)])


def test_a_listed_attribute_wins_and_the_others_fall_through(handlers: Handlers) -> None:
    stored(handlers, "c1", seniority="director", employees=300)
    events = messages([(IDENTIFY, "c1", {"seniority": "manager"}, {}, ""), *viewed("c1")])
    listed = [IncomingEntity("c1", attributes={"seniority": "vp"})]
    scored = handlers.service.score_events(LEADS, events, listed)
    # seniority as listed (16), employees from the store (15): the listing has none.
    assert np.isclose(fit_points(scored, "c1"), 16 + 15)


def test_identify_traits_apply_to_an_unlisted_entity_the_last_sent_winning(
    handlers: Handlers,
) -> None:
    events = messages(
        [
            (IDENTIFY, "c1", {"seniority": "vp"}, {"employees": 100}, ""),
            (IDENTIFY, "c1", {"seniority": "manager"}, {}, ""),  # sent later: wins
            *viewed("c1", "c2"),
        ]
    )
    events.ts[1] = NOW - 9 * DAY  # an earlier time does not change the order applied
    scored = handlers.service.score_events(LEADS, events, [IncomingEntity("c2")])
    assert np.isclose(fit_points(scored, "c1"), 8 + 10)  # manager, 50-200 employees
    assert fit_points(scored, "c2") == 0.0  # listed without attributes, none elsewhere


def test_group_traits_are_the_account_s_not_the_member_s(handlers: Handlers) -> None:
    events = messages(
        [(GROUP, "c1", {"plan": "monthly", "seniority": "vp"}, {}, "acme"), *viewed("c1", "acme")]
    )
    churn = handlers.service.score_events("churn_risk", events, [])
    assert churn.entity_ids == ["c1", "acme"]
    assert texts((churn.attributes or {})["plan"]) == ["", "monthly"]
    assert churn.result.fit[1] > 0 and churn.result.fit[0] == 0  # monthly: 15 points
    leads = handlers.service.score_events(LEADS, events, [])
    assert fit_points(leads, "c1") == 0.0 and np.isclose(fit_points(leads, "acme"), 16)


def test_stored_attributes_apply_when_the_request_has_none(handlers: Handlers) -> None:
    stored(handlers, "c1", seniority="vp", industry="software")
    stored(handlers, "c2", relationship="customer")
    stored(handlers, "c3", relationship="customer")
    events = messages(viewed("c1", "c2", "c3", "new"))
    # An empty value sent is a value: it blanks the stored one, as an upsert would.
    listed = [IncomingEntity("c3", attributes={"relationship": ""})]
    scored = handlers.service.score_events(LEADS, events, listed)
    assert scored.entity_ids == ["c3", "c1", "c2", "new"]
    assert np.isclose(fit_points(scored, "c1"), 16 + 10)
    assert scored.result.disqualified.tolist() == [False, False, True, False]
    assert "Not a prospect" in scored.result.disqualify_reason[2]
    assert fit_points(scored, "new") == 0.0  # unknown to the store: no attributes


def test_inline_features_read_listed_then_stored_attributes(handlers: Handlers) -> None:
    stored(handlers, "c1", seniority="vp", employees=300)
    stored(handlers, "c2", relationship="customer")
    service = handlers.service
    signals = len(service.get_profile(LEADS).signals)
    ids = ["c1", "c2", "ghost"]
    listed = [IncomingEntity("c1", attributes={"seniority": "manager"})]
    scored = service.score_features(LEADS, np.ones((3, signals)), ids, listed)
    assert np.isclose(fit_points(scored, "c1"), 8 + 15)  # listed seniority, stored employees
    assert scored.result.disqualified.tolist() == [False, True, False]
    assert fit_points(scored, "ghost") == 0.0
    streamed = service.score_features(LEADS, np.ones((3, signals)), ids)  # StreamScores
    assert streamed.result.fit.tolist() == [0.0] * 3 and not streamed.result.disqualified.any()


def test_an_inline_what_if_equals_an_ingest_of_the_same_events(handlers: Handlers) -> None:
    stored(handlers, "c1", seniority="director", industry="retail", employees=20)
    stored(handlers, "c3", seniority="vp")
    events = messages(
        [
            (IDENTIFY, "c1", {"industry": "software"}, {"employees": 400}, ""),
            (GROUP, "c2", {"seniority": "c_level"}, {"employees": 60}, "c3"),
            (IDENTIFY, "c2", {"seniority": "manager", "industry": ""}, {}, ""),
            (IDENTIFY, "c1", {"seniority": "vp"}, {}, ""),
            *viewed("c1", "c2", "c3", "c4"),
        ]
    )
    service = handlers.service
    inline = service.score_events(LEADS, events, [])
    service.ingest(events)
    ingested = service.score_stored(LEADS, inline.entity_ids)
    assert inline.result.fit.tolist() == ingested.result.fit.tolist()
    expected = [16 + 15 + 10, 8, 20 + 10, 0]  # c2's industry: blanked by its identify
    assert np.allclose([fit_points(inline, e) for e in ("c1", "c2", "c3", "c4")], expected)
