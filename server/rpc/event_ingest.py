"""IngestEvents: a client stream of event batches into the service, several batches ahead.

The writer is the ingest bottleneck (one thread, every write in order), so it should
never wait for the loop: while it stores batch k, the loop reads, converts and checks
the next batches (protobuf to columns is ~5 us an event: a message over
convert.PROCESS_BYTES is parsed, converted and checked in a worker process,
rpc/ingest_offload.py, one over convert.OFFLOAD_ROWS events in a worker thread, so the
loop keeps serving) and queues up to streams.IN_FLIGHT of them. Batches that wait for the writer
together are stored in one transaction (handlers.ingest_queue: group commit), which is
what lets the writer keep up with a fast stream of small batches. Batches still commit
in order, and an error in a batch surfaces only after the batches before it have
settled; after a failed batch, none of the stream's later batches is written.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from opentelemetry import trace

from prioscore.server.config import Settings
from prioscore.server.handlers import CheckedEvents, IngestResult, IngestStream, Service
from prioscore.server.rpc import convert
from prioscore.server.rpc.ingest_offload import EventsBytes, IngestOffload, stream_backfill
from prioscore.server.rpc.streams import InFlight, bounded
from prioscore.v1 import event_service_pb2 as events_pb
from prioscore.v1 import types_pb2


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
    backfill: bool | None = None  # the first message decides for the stream
    stream = IngestStream()

    async def settle(result: IngestResult) -> None:
        totals.add(result)
        # Ingest feeds every profile, so the span names none; the size is the running total.
        _annotate(totals.accepted + totals.duplicates)
        # Let watch streams send this batch's changes before more of them pile up.
        await service.watchers_drained(bool(result.tier_changes))

    in_flight = InFlight(settle)
    try:
        async for index, request in bounded(requests, settings.max_stream_messages):
            if isinstance(request, EventsBytes):  # over convert.PROCESS_BYTES: in a worker
                events, backfill = await offload.checked(request, index, backfill)
            else:
                backfill = stream_backfill(request, index, backfill)
                field = f"messages[{index}].events"
                if len(request.events) > convert.OFFLOAD_ROWS:  # off the loop
                    events = await asyncio.to_thread(_checked, service, request.events, field)
                else:
                    events = _checked(service, request.events, field)
            await in_flight.add(service.submit_ingest(events, backfill=backfill, stream=stream))
    finally:
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


def _checked(service: Service, events: Sequence[types_pb2.Event], field: str) -> CheckedEvents:
    """A message's events as columns, validated for ingest (raises on any violation)."""
    return service.check_events(convert.events_from_proto(events, field))


def _annotate(batch: int) -> None:
    span = trace.get_current_span()
    span.set_attribute("prioscore.profile", "")
    span.set_attribute("prioscore.batch_size", batch)
