"""IngestEvents: a client stream of event batches into the service, one batch ahead.

The writer is the ingest bottleneck (one thread, every write in order), so it should
never wait for the loop: while it stores and rescores batch k, the loop reads and
converts batch k+1 (protobuf to columns is ~10 us an event; a message over
convert.OFFLOAD_ROWS events is converted in a worker thread, so the loop keeps serving),
which used to run only after batch k had come back. At most one batch is in flight: batches still
commit in order, each in its own transaction, and an error in batch k+1's message
surfaces only after batch k has settled (as before, what was sent before it is stored).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from opentelemetry import trace

from prioscore.server.config import Settings
from prioscore.server.errors import InvalidArgumentError
from prioscore.server.handlers import IncomingEvents, IngestResult, Service
from prioscore.server.rpc import convert
from prioscore.server.rpc.streams import bounded
from prioscore.v1 import event_service_pb2 as events_pb


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
    requests: AsyncIterator[events_pb.IngestEventsRequest],
) -> events_pb.IngestEventsResponse:
    """Each message is one ingest batch (validated whole, one transaction); with
    `backfill`, everyone touched is rescored once at the end of the stream."""
    totals = _Totals()
    backfill: bool | None = None  # the first message decides for the stream
    pending: asyncio.Task[IngestResult] | None = None

    async def settle(task: asyncio.Task[IngestResult]) -> None:
        result = await task
        totals.add(result)
        # Ingest feeds every profile, so the span names none; the size is the running total.
        _annotate(totals.accepted + totals.duplicates)
        # Let watch streams send this batch's changes before the next batch runs.
        await service.watchers_drained(bool(result.tier_changes))

    try:
        async for index, request in bounded(requests, settings.max_stream_messages):
            if backfill is None:
                backfill = request.backfill
            elif request.backfill != backfill:
                raise InvalidArgumentError.of(
                    f"messages[{index}].backfill",
                    f"must equal the first message's backfill ({backfill})",
                )
            field = f"messages[{index}].events"
            if len(request.events) > convert.OFFLOAD_ROWS:  # off the loop, as ScoreEntities
                events = await asyncio.to_thread(convert.events_from_proto, request.events, field)
            else:
                events = convert.events_from_proto(request.events, field)
            if pending is not None:
                previous, pending = pending, None
                await settle(previous)
            pending = asyncio.create_task(_ingest(service, events, backfill))
    finally:
        if pending is not None:  # settled first: its error (if any) came first
            await settle(pending)
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


async def _ingest(service: Service, events: IncomingEvents, backfill: bool) -> IngestResult:
    return await service.aingest(events, backfill=backfill)


def _annotate(batch: int) -> None:
    span = trace.get_current_span()
    span.set_attribute("prioscore.profile", "")
    span.set_attribute("prioscore.batch_size", batch)
