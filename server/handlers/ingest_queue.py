"""Group commit: ingest batches that wait for the writer are stored together.

The writer stores one ingest transaction at a time; under load, batches queue behind it.
An ingest transaction costs mostly per transaction and per touched entity, not per event
(measured at 10k contacts: a 200-event batch took the writer ~17 ms, a 1,000-event one
~55 ms, and its COMMIT writes every index page it dirtied, ~600 pages either way), so
the batches that arrived while the writer was busy are stored in ONE transaction
(EventIngest.ingest_group) and each caller still gets its own result, after that
transaction commits: an acknowledged event is as durable as before.

Order: batches are stored in the order they were queued. A stream's batches stay in
order, and once one of them fails, none of its later batches is written (the caller
hears of the first failure; what it sent before that is stored, as before).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from prioscore.server.handlers.ingest import CheckedEvents, IngestResult

log = logging.getLogger("prioscore.ingest")

# A group holds at most this many events (one larger batch is a group alone): the
# group's latency is what every batch in it waits for.
GROUP_EVENTS = 4_096

StoreGroup = Callable[[Sequence[CheckedEvents], bool], list[IngestResult]]
Submit = Callable[[Callable[[], None]], "Future[None]"]


@dataclass
class IngestStream:
    """One client stream's batches: after a batch of it fails, later ones are refused."""

    failed: BaseException | None = None


@dataclass
class _Waiting:
    events: CheckedEvents
    backfill: bool
    stream: IngestStream
    future: Future[IngestResult] = field(default_factory=Future)


class IngestQueue:
    """Batches waiting for the writer; one writer job stores all that are waiting."""

    def __init__(
        self, submit: Submit, store_group: StoreGroup, *, max_events: int = GROUP_EVENTS
    ) -> None:
        """`submit` queues a job on the writer (CoreWorker.submit); `store_group` stores
        checked batches in one transaction (EventIngest.ingest_group)."""
        self._submit = submit
        self._store_group = store_group
        self._max_events = max_events
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._queued = False  # a drain job is queued and has not started

    def submit(
        self, events: CheckedEvents, backfill: bool, stream: IngestStream | None = None
    ) -> Future[IngestResult]:
        """Queues a checked batch; the future holds its result once its group commits."""
        waiting = _Waiting(events, backfill, stream or IngestStream())
        with self._lock:
            self._waiting.append(waiting)
            schedule, self._queued = not self._queued, True
        if schedule:
            started = threading.Event()

            def drain() -> None:
                started.set()
                self._drain()

            def ended(job: Future[None]) -> None:
                if not started.is_set():  # refused: the writer is shutting down
                    self._refused(job)

            self._submit(drain).add_done_callback(ended)
        return waiting.future

    def _drain(self) -> None:
        """On the writer: stores every batch waiting when it starts, group by group
        (those that arrive meanwhile wait for the next drain, queued behind other jobs)."""
        with self._lock:
            waiting, self._waiting, self._queued = self._waiting, [], False
        try:
            for group in _groups(waiting, self._max_events):
                self._store([w for w in group if w.future.set_running_or_notify_cancel()])
        except BaseException as error:  # never leave a caller waiting forever
            for w in waiting:
                if not w.future.done():
                    w.future.set_exception(error)
            raise

    def _store(self, group: list[_Waiting]) -> None:
        """Stores the group in one transaction; when that fails, each batch alone."""
        for w in group:
            if w.stream.failed is not None:  # an earlier batch of its stream failed
                w.future.set_exception(w.stream.failed)
        group = [w for w in group if not w.future.done()]
        if not group:
            return
        try:
            results = self._store_group([w.events for w in group], group[0].backfill)
        except Exception as error:
            if len(group) == 1:
                group[0].stream.failed = error
                group[0].future.set_exception(error)
                return
            # Something in the group failed the transaction (nothing of it is written):
            # each batch again on its own, so only the one that fails is refused.
            log.info("an ingest group of %d batches failed (%s); one by one", len(group), error)
            for w in group:
                self._store([w])
            return
        for w, result in zip(group, results, strict=True):
            w.future.set_result(result)

    def _refused(self, job: Future[None]) -> None:
        """The writer refused the drain job: what it would have stored fails with it."""
        error = (None if job.cancelled() else job.exception()) or RuntimeError("ingest dropped")
        with self._lock:
            waiting, self._waiting, self._queued = self._waiting, [], False
        for w in waiting:
            if w.future.set_running_or_notify_cancel():
                w.future.set_exception(error)


def _groups(waiting: list[_Waiting], max_events: int) -> Iterator[list[_Waiting]]:
    """Consecutive batches of one backfill flag, up to max_events each (at least one)."""
    group: list[_Waiting] = []
    size = 0
    for w in waiting:
        n = len(w.events)
        if group and (w.backfill != group[0].backfill or size + n > max_events):
            yield group
            group, size = [], 0
        group.append(w)
        size += n
    if group:
        yield group


__all__ = ["GROUP_EVENTS", "IngestQueue", "IngestStream"]
