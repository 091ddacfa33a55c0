"""IngestEvents: a client stream of event batches into the service, several batches ahead.

The writer is the ingest bottleneck (one thread, every write in order), so it should
never wait for the loop: while it stores batch k, the next batches are read, converted
and checked (protobuf to columns is ~5 us an event: a message over convert.PROCESS_BYTES
in a worker process, rpc/ingest_offload.py, several at once; one over
convert.OFFLOAD_ROWS events in a worker thread; so the loop keeps serving) and up to
streams.IN_FLIGHT of them are queued. Batches that wait for the writer together are
stored in one transaction (handlers.ingest_queue: group commit), which is what lets the
writer keep up with a fast stream of small batches. Batches still commit in order, and
an error in a batch surfaces only after the batches before it have settled; after a
failed batch, none of the stream's later batches is written.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from opentelemetry import trace

from prioscore.server.config import Settings
from prioscore.server.handlers import CheckedEvents, IngestResult, IngestStream, Service
from prioscore.server.rpc import convert
from prioscore.server.rpc.ingest_offload import (
    INGEST_PROCESSES,
    Converted,
    EventsBytes,
    IngestOffload,
    stream_backfill,
)
from prioscore.server.rpc.streams import InFlight, bounded
from prioscore.v1 import event_service_pb2 as events_pb
from prioscore.v1 import types_pb2

Message = events_pb.IngestEventsRequest


@dataclass
class _Totals:
    """What the stream's batches added up to, for the one response."""

    accepted: int = 0
    duplicates: int = 0
    rescored: int = 0
    changes: int = 0
    suppressed: int = 0
    touched: set[str] = field(default_factory=set)
    unread: Counter[str] = field(default_factory=Counter)

    def add(self, result: IngestResult) -> None:
        self.touched.update(result.touched)
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.rescored += result.entities_rescored
        self.changes += len(result.tier_changes)
        self.suppressed += result.suppressed
        self.unread.update(result.unread)


async def ingest_events(
    service: Service,
    settings: Settings,
    requests: AsyncIterator[events_pb.IngestEventsRequest | EventsBytes],
    offload: IngestOffload,
) -> events_pb.IngestEventsResponse:
    """Each message is one ingest batch (validated whole, committed whole); with
    `backfill`, everyone touched is rescored once at the end of the stream."""
    totals = _Totals()
    stream = IngestStream()

    async def settle(result: IngestResult) -> None:
        totals.add(result)
        # Ingest feeds every profile, so the span names none; the size is the running total.
        _annotate(totals.accepted + totals.duplicates)
        # Let watch streams send this batch's changes before more of them pile up.
        await service.watchers_drained(bool(result.tier_changes))

    in_flight = InFlight(settle)
    batches = _Batches(service, offload, in_flight, stream)
    try:
        await batches.take(bounded(requests, settings.max_stream_messages))
    finally:
        batches.cancel()
        # In order: the first failure is the one the client hears; the batches after a
        # failed one are refused by the queue, their errors are that same failure.
        await in_flight.finish()
    if totals.touched:  # the end of a historical import: everyone it touched, once
        result = await service.afinish_backfill(totals.touched)
        totals.rescored += result.entities_rescored
        totals.changes += len(result.tier_changes)
    return events_pb.IngestEventsResponse(
        accepted=totals.accepted,
        duplicates=totals.duplicates,
        entities_rescored=totals.rescored,
        tier_changes=totals.changes,
        suppressed=totals.suppressed,
        unread_events=[
            events_pb.UnreadEvents(event=name, count=count)
            for name, count in sorted(totals.unread.items())
        ],
    )


class _Batches:
    """A stream's messages made checked batches and queued for the writer, in order.

    A large message (EventsBytes) starts converting in a worker as soon as it is read;
    while the writer keeps up, up to INGEST_PROCESSES of them at once (_ahead), so a
    stream's conversions overlap one another as well as the writer; every other message
    is converted when its turn comes. What
    the stream decides (its backfill) and every error is taken in message order: the
    first bad message is the one the client hears, and none after it is queued."""

    def __init__(
        self,
        service: Service,
        offload: IngestOffload,
        in_flight: InFlight[IngestResult],
        stream: IngestStream,
    ) -> None:
        self._service = service
        self._offload = offload
        self._in_flight = in_flight
        self._stream = stream
        self._backfill: bool | None = None  # the first message decides for the stream
        self._pending: deque[tuple[int, Message | asyncio.Future[Converted]]] = deque()

    async def take(self, messages: AsyncIterator[tuple[int, Message | EventsBytes]]) -> None:
        """Every message of the stream, then the batches still pending. An error reading
        a message (it does not parse, the stream is too long or idle) comes after the
        messages read before it, as when each was queued before the next was read.

        While a conversion is pending and the next message has not come, whichever comes
        first is taken: a converted batch is queued once it is ready, not once the
        client sends the next message (a stream of large messages sent a second apart
        would otherwise have each stored, and its tier changes told, a second late)."""
        reading: asyncio.Future[tuple[int, Message | EventsBytes]] | None = None
        try:
            while True:
                converting = await self._queue_due()
                if converting is not None:  # read the next message beside it
                    reading = reading or asyncio.ensure_future(anext(messages))
                    if not reading.done():
                        await asyncio.wait(
                            (reading, converting), return_when=asyncio.FIRST_COMPLETED
                        )
                        continue
                try:
                    index, message = await (reading or anext(messages))
                except StopAsyncIteration:
                    break
                except Exception:
                    await self._drain()
                    raise
                finally:
                    reading = None
                if isinstance(message, EventsBytes):  # over convert.PROCESS_BYTES: a worker
                    self._pending.append((index, self._offload.convert(message, index)))
                else:
                    self._pending.append((index, message))
            await self._drain()
        finally:
            # The stream failed or was cancelled with a message still being read: its
            # read ends here; an error it already had is not the one the client hears.
            if reading is not None and not reading.cancel() and not reading.cancelled():
                reading.exception()

    async def _queue_due(self) -> asyncio.Future[Converted] | None:
        """Queues the oldest batches while they are due (more are pending than may be
        read ahead, or the oldest needs no worker, or its conversion is done); returns
        the oldest's conversion when it is still running."""
        while self._pending:
            oldest = self._pending[0][1]
            if (
                len(self._pending) <= self._ahead()
                and isinstance(oldest, asyncio.Future)
                and not oldest.done()
            ):
                return oldest
            await self._queue_oldest()
        return None

    def _ahead(self) -> int:
        """Messages to read (and start converting) before the oldest is queued: while
        the writer keeps up (at most one batch of the stream still to store), a next one
        converts beside it; while it is behind, one at a time: more would only wait for the
        writer, on the core the serving process needs (measured: no worse for S2 ingest's
        probes than one at a time, and P5 no-rescore back to the in-process rate)."""
        return INGEST_PROCESSES - 1 if self._in_flight.waiting() <= 1 else 0

    async def _drain(self) -> None:
        while self._pending:
            await self._queue_oldest()

    async def _queue_oldest(self) -> None:
        index, pending = self._pending.popleft()
        if isinstance(pending, asyncio.Future):
            events, self._backfill = await self._offload.taken_in(
                await pending, index, self._backfill
            )
        else:
            self._backfill = stream_backfill(pending.backfill, index, self._backfill)
            field = f"messages[{index}].events"
            if len(pending.events) > convert.OFFLOAD_ROWS:  # off the loop
                events = await asyncio.to_thread(_checked, self._service, pending.events, field)
            else:
                events = _checked(self._service, pending.events, field)
        submitted = self._service.submit_ingest(
            events, backfill=self._backfill, stream=self._stream
        )
        await self._in_flight.add(submitted)

    def cancel(self) -> None:
        """Withdraws the conversions a failed (or cancelled) stream left pending."""
        for _, pending in self._pending:
            if not isinstance(pending, asyncio.Future) or pending.cancel():
                continue
            if not pending.cancelled():  # done: retrieved, so asyncio does not log it
                pending.exception()
        self._pending.clear()


def _checked(service: Service, events: Sequence[types_pb2.Event], field: str) -> CheckedEvents:
    """A message's events as columns, validated for ingest (raises on any violation)."""
    return service.check_events(convert.events_from_proto(events, field))


def _annotate(batch: int) -> None:
    span = trace.get_current_span()
    span.set_attribute("prioscore.profile", "")
    span.set_attribute("prioscore.batch_size", batch)
