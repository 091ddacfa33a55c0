"""Erasure that holds: suppression after erase, no erased value left in the files, and the
retention window."""

from __future__ import annotations

from pathlib import Path

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.rpc.conftest import Stubs, identify, track

PERSON = "victim.person@example.com"
NOW = 1_800_000_000.0


def _ingest(stubs: Stubs, *events: types_pb2.Event) -> ev.IngestEventsResponse:
    return stubs.events.IngestEvents(iter([ev.IngestEventsRequest(events=list(events))]))


def _history(stubs: Stubs, entity_id: str) -> int:
    return len(
        stubs.handle.call(
            lambda: stubs.handle.service.store.score_history(entity_id, None, limit=1000)
        )
    )


def test_redelivery_after_erase_adds_nothing_until_allowed(stubs: Stubs) -> None:
    stubs.handle.clock.set(NOW)
    original = [identify(PERSON, plan="pro"), track(PERSON), track(PERSON), track("bystander")]
    _ingest(stubs, *original)
    store = stubs.handle.service.store
    stubs.events.EraseEntity(ev.EraseEntityRequest(entity_id=PERSON))
    events_after_erase = stubs.handle.call(store.count_events)

    # The producer redelivers the original messages, and sends a new one.
    again = _ingest(stubs, *original, track(PERSON), track("bystander"))
    assert again.suppressed == 4  # identify + 2 redelivered tracks + the new one
    assert again.accepted == 1  # the bystander's new event; its old one is a duplicate
    assert stubs.handle.call(lambda: store.count_events(PERSON)) == 0
    assert stubs.handle.call(lambda: store.get_entities([PERSON])) == {}
    assert _history(stubs, PERSON) == 0
    assert stubs.handle.call(store.count_events) == events_after_erase + 1
    assert stubs.handle.call(lambda: store.dropped_for(PERSON)) == 4
    # An upsert cannot bring the entity back either.
    stubs.events.UpsertEntities(
        ev.UpsertEntitiesRequest(entities=[types_pb2.Entity(id=PERSON, kind="contact")])
    )
    assert stubs.handle.call(lambda: store.get_entities([PERSON])) == {}

    allowed = stubs.events.AllowEntity(ev.AllowEntityRequest(entity_id=PERSON))
    assert allowed.was_suppressed
    assert not stubs.events.AllowEntity(ev.AllowEntityRequest(entity_id=PERSON)).was_suppressed
    assert _ingest(stubs, track(PERSON)).accepted == 1
    assert stubs.handle.call(lambda: store.count_events(PERSON)) == 1


def test_an_erased_account_is_not_recreated_by_a_group_event(stubs: Stubs) -> None:
    group = types_pb2.Event(
        message_id="g1", kind=types_pb2.EVENT_KIND_GROUP, entity_id="c1", account_id="acme"
    )
    _ingest(stubs, group)
    stubs.events.EraseEntity(ev.EraseEntityRequest(entity_id="acme"))
    again = types_pb2.Event(
        message_id="g2", kind=types_pb2.EVENT_KIND_GROUP, entity_id="c2", account_id="acme"
    )
    assert _ingest(stubs, again).suppressed == 1
    store = stubs.handle.service.store
    assert stubs.handle.call(lambda: store.get_entities(["acme", "c2"])) == {}


def _files_hold(db: Path, value: bytes) -> list[str]:
    return [
        p.name
        for p in (db, db.with_name(db.name + "-wal"))
        if p.exists() and value in p.read_bytes()
    ]


def test_no_copy_of_an_erased_value_stays_in_the_database_or_its_wal(stubs: Stubs) -> None:
    stubs.handle.clock.set(NOW)
    secret = b"victim.person@example.com"
    for i in range(20):  # many versions of its rows: many WAL frames
        _ingest(stubs, identify(PERSON, email=PERSON, note=f"v{i}"), track(PERSON), track("b"))
    db = stubs.handle.db
    assert _files_hold(db, secret), "the test data never reached the files"
    stubs.events.EraseEntity(ev.EraseEntityRequest(entity_id=PERSON))
    assert _files_hold(db, secret) == []
    # The bystander and the server are fine afterwards.
    assert _ingest(stubs, track("b")).accepted == 1
    scores = stubs.scoring.ScoreEntities(
        sc.ScoreEntitiesRequest(profile="test_leads", stored=sc.StoredEntities(entity_ids=["b"]))
    )
    assert scores.scores[0].score > 0


def test_retention_purges_what_is_older_than_the_window(stubs: Stubs) -> None:
    from prioscore.server.handlers import Retention
    from prioscore.server.store import PurgeCounts

    handle = stubs.handle
    store = handle.service.store
    day = 86_400.0
    handle.clock.set(NOW)
    old = [_at(track("old", message_id=f"o{i}"), NOW - 40 * day) for i in range(3)]
    _ingest(stubs, *old, _at(track("old", message_id="recent"), NOW - day))
    _ingest(stubs, track("fresh"))
    history_before = _history(stubs, "old")
    core = handle.running.handlers.core
    retention = Retention(store, handle.clock.now, days=30, core=core)

    def purge() -> PurgeCounts:  # on the writer, as the server runs it
        return core.worker.submit(retention.purge).result(timeout=30)

    live_before = len(core.live)
    counts = purge()
    assert counts.events == 3
    assert len(core.live) == live_before - 3  # the live state let the same events go
    assert handle.call(lambda: store.count_events("old")) == 1
    assert handle.call(lambda: store.count_events("fresh")) == 1
    assert _history(stubs, "old") == history_before  # its points were written at NOW
    # Time passes: the rest ages out too, history and tier changes with it.
    handle.clock.advance(31 * day)
    handle.settle()
    counts = purge()
    assert counts.events == 2 and counts.history >= history_before and counts.tier_changes >= 1
    assert handle.call(store.count_events) == 0
    assert purge().events == 0  # idempotent


def _at(event: types_pb2.Event, seconds: float) -> types_pb2.Event:
    event.time.FromSeconds(int(seconds))
    return event
