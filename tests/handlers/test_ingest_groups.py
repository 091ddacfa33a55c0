"""Group commit: batches stored together (EventIngest.ingest_group, IngestQueue) leave
what the same batches ingested one by one leave, and each caller gets its own answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest

from prioscore.server.clock import Clock
from prioscore.server.errors import InvalidArgumentError
from prioscore.server.handlers import (
    CheckedEvents,
    Handlers,
    IncomingEvents,
    IngestResult,
    build_handlers,
)
from prioscore.server.handlers.ingest_queue import IngestQueue, IngestStream
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.store import Store
from tests.conftest import PROFILES
from tests.handlers.conftest import NOW, tracks


def _batches() -> list[IncomingEvents]:
    """Three batches over overlapping contacts; the third repeats a message of the first."""
    first = tracks([("a", "demo_request", 1, {}), ("b", "page_view", 2, {"url": "/pricing"})], "g1")
    second = tracks(
        [("a", "form_submit", 0.5, {"form": "contact_sales"}), ("c", "webinar_attended", 3, {})],
        "g2",
    )
    third = tracks([("b", "demo_request", 0.2, {}), ("d", "page_view", 1, {"url": "/docs"})], "g3")
    third.message_id[1] = first.message_id[0]  # a resent event: a duplicate
    return [first, second, third]


def _state(built: Handlers) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], int]:
    conn = built.store.conn
    scores = conn.execute(
        "SELECT profile, entity_id, round(score, 9), tier FROM scores ORDER BY 1, 2"
    ).fetchall()
    # Causes are left out: a group names each entity's latest event of the GROUP, one by
    # one its latest of each batch (and a group skips tiers passed through in between).
    changes = conn.execute(
        "SELECT profile, entity_id, previous_tier, tier FROM tier_changes ORDER BY 1, 2"
    ).fetchall()
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    return scores, changes, events


def _built(path: Path) -> Handlers:
    clock = Clock()
    clock.set(NOW)
    return build_handlers(Store(path), ProfileRegistry.from_directory(PROFILES), clock=clock)


def test_a_group_stores_what_the_batches_one_by_one_store(tmp_path: Path) -> None:
    one_by_one = _built(tmp_path / "single.db")
    together = _built(tmp_path / "group.db")
    try:
        singles = [one_by_one.service.ingest(b) for b in _batches()]
        batches = _batches()
        grouped = together.service._events.ingest_group(
            [together.service.check_events(b) for b in batches]
        )
        assert _state(together) == _state(one_by_one)
        assert [(r.accepted, r.duplicates) for r in grouped] == [(2, 0), (2, 0), (1, 1)]
        assert [(r.accepted, r.duplicates) for r in grouped] == [
            (r.accepted, r.duplicates) for r in singles
        ]
        # Each change belongs to the batch whose event caused it.
        for batch, result in zip(batches, grouped, strict=True):
            assert {c.cause_message_id for c in result.tier_changes} <= set(batch.message_id)
        assert sum(len(r.tier_changes) for r in grouped) == len(_state(together)[1])
        # Contact "a" is in two batches: each counts its rescoring, as one by one.
        assert grouped[0].entities_rescored >= 2
        assert grouped[1].entities_rescored >= 2
    finally:
        one_by_one.close()
        together.close()


class _Writer:
    """Holds submitted jobs until the test runs them (the writer, step by step)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], None], Future[None]]] = []
        self.closed = False

    def submit(self, job: Callable[[], None]) -> Future[None]:
        future: Future[None] = Future()
        if self.closed:
            future.set_exception(RuntimeError("writer closed"))
        else:
            self.jobs.append((job, future))
        return future

    def run_all(self) -> None:
        while self.jobs:
            job, future = self.jobs.pop(0)
            job()
            future.set_result(None)


def _events(tag: str, n: int = 1) -> CheckedEvents:
    events = tracks([(f"e-{tag}-{i}", "page_view", 1, {}) for i in range(n)], tag)
    return CheckedEvents(events, ["{}"] * n)


def _recording(
    calls: list[list[str]], refuse: str = ""
) -> Callable[[Sequence[CheckedEvents], bool], list[IngestResult]]:
    """A store_group that records the groups it was given and fails any group holding a
    batch whose first message id starts with `refuse` (as a transaction would)."""

    def store_group(batches: Sequence[CheckedEvents], backfill: bool) -> list[IngestResult]:
        tags = [b.events.message_id[0] for b in batches]
        calls.append(tags)
        if refuse and any(t.startswith(refuse) for t in tags):
            raise InvalidArgumentError.of("events[0]", "refused")
        return [IngestResult(len(b), 0, 0, []) for b in batches]

    return store_group


def test_batches_that_wait_together_are_one_group_in_order() -> None:
    writer, calls = _Writer(), []
    queue = IngestQueue(writer.submit, _recording(calls))
    futures = [queue.submit(_events(t, 2), False) for t in ("x", "y", "z")]
    assert len(writer.jobs) == 1  # one drain job for all three
    writer.run_all()
    assert calls == [["x-0", "y-0", "z-0"]]
    assert [f.result().accepted for f in futures] == [2, 2, 2]
    late = queue.submit(_events("w"), False)  # after the drain: a new job
    writer.run_all()
    assert calls[-1] == ["w-0"] and late.result().accepted == 1


def test_groups_are_bounded_and_never_mix_backfill() -> None:
    writer, calls = _Writer(), []
    queue = IngestQueue(writer.submit, _recording(calls), max_events=4)
    queue.submit(_events("a", 3), False)
    queue.submit(_events("b", 1), False)
    queue.submit(_events("c", 1), False)  # 3 + 1 + 1 > 4: a new group
    queue.submit(_events("d", 1), True)  # a backfill batch is never grouped with others
    queue.submit(_events("e", 9), True)  # larger than a group: alone
    writer.run_all()
    assert calls == [["a-0", "b-0"], ["c-0"], ["d-0"], ["e-0"]]


def test_a_failing_batch_fails_alone_and_stops_its_stream() -> None:
    writer, calls = _Writer(), []
    queue = IngestQueue(writer.submit, _recording(calls, refuse="bad"))
    mine, other = IngestStream(), IngestStream()
    before = queue.submit(_events("ok1"), False, mine)
    bad = queue.submit(_events("bad"), False, mine)
    elsewhere = queue.submit(_events("ok2"), False, other)
    after = queue.submit(_events("ok3"), False, mine)
    writer.run_all()
    # The group failed as a whole, then each batch went on its own: only "bad" fails,
    # the stream's later batch is refused without being tried, another stream's stored.
    assert calls == [["ok1-0", "bad-0", "ok2-0", "ok3-0"], ["ok1-0"], ["bad-0"], ["ok2-0"]]
    assert before.result().accepted == 1 and elsewhere.result().accepted == 1
    with pytest.raises(InvalidArgumentError):
        bad.result()
    assert after.exception() is bad.exception()
    # Even in a later drain, the failed stream stays refused.
    later = queue.submit(_events("ok4"), False, mine)
    writer.run_all()
    assert later.exception() is bad.exception() and calls[-1] == ["ok2-0"]


def test_a_cancelled_batch_is_not_stored() -> None:
    writer, calls = _Writer(), []
    queue = IngestQueue(writer.submit, _recording(calls))
    gone = queue.submit(_events("gone"), False)
    kept = queue.submit(_events("kept"), False)
    assert gone.cancel()
    writer.run_all()
    assert calls == [["kept-0"]] and kept.result().accepted == 1


def test_a_refused_drain_fails_its_batches() -> None:
    writer, calls = _Writer(), []
    writer.closed = True
    queue = IngestQueue(writer.submit, _recording(calls))
    future = queue.submit(_events("x"), False)
    with pytest.raises(RuntimeError, match="writer closed"):
        future.result(timeout=1)
    assert calls == []


def test_a_batch_with_a_suppressed_event_stores_the_others_with_their_own_properties(
    handlers: Handlers,
) -> None:
    # The stored JSON is made when the batch is checked, before the writer drops the
    # events of erased ids: what it stores for the rest must still be their own.
    service = handlers.service
    service.ingest(tracks([("gone", "page_view", 1, {"url": "/x"})], "s0"))
    service.erase_entity("gone")
    batch = tracks(
        [
            ("gone", "page_view", 1, {"url": "/erased"}),
            ("kept", "page_view", 1, {"url": "/pricing"}),
            ("kept", "form_submit", 1, {"form": "contact_sales"}),
        ],
        "s1",
    )
    result = service.ingest(batch)
    assert (result.accepted, result.suppressed) == (2, 1)
    stored = handlers.store.conn.execute(
        "SELECT message_id, properties FROM events WHERE entity_id = 'kept' ORDER BY message_id"
    ).fetchall()
    assert stored == [("s1-1", '{"url":"/pricing"}'), ("s1-2", '{"form":"contact_sales"}')]


def test_an_entity_first_seen_in_a_batch_is_created_at_the_batchs_time(
    handlers: Handlers,
) -> None:
    # Created by the service's clock, as its update is: never a wall-clock creation time
    # after (or before) the update the same batch wrote.
    handlers.service.ingest(tracks([("fresh", "page_view", 0, {})], "c0"))
    created, updated = handlers.store.conn.execute(
        "SELECT created, updated FROM entities WHERE id = 'fresh'"
    ).fetchone()
    assert created == updated == NOW
