"""IngestSegment: a client stream of Segment calls (JSON text each) into the service.

Why JSON text and not a typed message: pipelines already hold Segment calls as JSON
(SDK queues, Segment and RudderStack exports, webhook bodies), so a caller forwards them
untouched from any language, and the gRPC and HTTP ways in share one translation
(handlers.segment) and so cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

from prioscore.server.config import Settings
from prioscore.server.errors import InvalidArgumentError
from prioscore.server.handlers import (
    IngestResult,
    IngestStream,
    Service,
    parse_calls,
    parse_time,
    segment_events,
)
from prioscore.server.rpc.streams import InFlight, bounded
from prioscore.v1 import event_service_pb2 as events_pb


async def ingest_segment(
    service: Service,
    settings: Settings,
    requests: AsyncIterator[events_pb.IngestSegmentRequest],
) -> events_pb.IngestSegmentResponse:
    """Each message is one ingest batch (validated whole, stored atomically), a few of
    them queued for the writer at once as IngestEvents does (rpc/event_ingest.py)."""
    total = events_pb.IngestSegmentResponse()
    stream = IngestStream()

    async def settle(result: IngestResult) -> None:
        total.accepted += result.accepted
        total.duplicates += result.duplicates
        total.entities_rescored += result.entities_rescored
        total.tier_changes += len(result.tier_changes)
        total.merged += result.merged
        await service.watchers_drained(bool(result.tier_changes))

    in_flight = InFlight(settle)
    try:
        async for index, request in bounded(requests, settings.max_stream_messages):
            where = f"messages[{index}]"
            sent_at = math.nan
            if request.sent_at:
                try:
                    sent_at = parse_time(request.sent_at)
                except ValueError as error:
                    raise InvalidArgumentError.of(f"{where}.sent_at", str(error)) from None
            calls = parse_calls(request.calls, f"{where}.calls", settings.max_segment_message_bytes)
            events = segment_events(
                calls,
                received_at=service.now(),
                kinds=service.kinds,
                sent_at=sent_at,
                prefix=f"{where}.calls",
            )
            checked = service.check_events(events)
            await in_flight.add(service.submit_ingest(checked, stream=stream))
    finally:
        await in_flight.finish()
    return total
