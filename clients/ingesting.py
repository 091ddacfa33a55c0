"""Event ingestion over the IngestEvents client stream, retry-safe by replay.

The server stores each batch atomically and dedupes on message_id, so the client can
replay a stream whose outcome is unknown: batches that were stored come back as
duplicates, the rest are stored now. To keep the replay buffer (and the per-stream
deadline) bounded, events go out in streams of at most `batches_per_stream` batches;
a stream's response (its totals) arrives only when the client half-closes, and the
buffer is dropped once it has.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from prioscore.clients.bulk import Feed
from prioscore.clients.errors import PrioscoreClientError, from_rpc_error, masks_server_status
from prioscore.clients.models import IngestSummary
from prioscore.clients.retry import RetryPolicy, is_retryable
from prioscore.v1 import event_service_pb2 as events_pb
from prioscore.v1 import types_pb2

METHOD = "IngestEvents"
Progress = Callable[[IngestSummary], None]


def _totals(response: events_pb.IngestEventsResponse) -> IngestSummary:
    return IngestSummary(
        accepted=response.accepted,
        duplicates=response.duplicates,
        entities_rescored=response.entities_rescored,
        tier_changes=response.tier_changes,
        suppressed=response.suppressed,
    )


async def _send_each(
    open_call: Callable[[AsyncIterator[Any]], grpc.aio.StreamUnaryCall],
    group: list[events_pb.IngestEventsRequest],
) -> IngestSummary:
    """One stream per batch: nothing is written after a batch, so a rejection reaches
    the client with the server's own status (see errors.masks_server_status)."""
    total = IngestSummary()
    for request in group:
        feed = Feed()
        call = open_call(feed.requests())
        feed.send(request)
        feed.close()
        total = total.plus(_totals(await call))
    return total


async def _one_stream(
    open_call: Callable[[AsyncIterator[Any]], grpc.aio.StreamUnaryCall],
    first: list[types_pb2.Event],
    batches: AsyncIterator[list[types_pb2.Event]],
    batches_per_stream: int,
    policy: RetryPolicy,
    backfill: bool,
) -> tuple[IngestSummary, bool]:
    """Sends up to batches_per_stream batches on one stream (replaying on retryable errors).

    Returns the stream's totals and whether the source is exhausted.
    """
    group = [events_pb.IngestEventsRequest(events=first, backfill=backfill)]
    exhausted = False
    replayed = 0
    one_by_one = False
    for attempt in range(policy.attempts):
        try:
            if one_by_one:
                totals = await _send_each(open_call, group)
            else:
                feed = Feed()
                call = open_call(feed.requests())
                for request in group:
                    feed.send(request)
                while not exhausted and len(group) < batches_per_stream and not call.done():
                    batch = await anext(batches, None)
                    if batch is None:
                        exhausted = True
                        break
                    request = events_pb.IngestEventsRequest(events=batch, backfill=backfill)
                    group.append(request)
                    feed.send(request)
                feed.close()
                totals = _totals(await call)
        except grpc.RpcError as error:
            failure: PrioscoreClientError = from_rpc_error(error, METHOD)
            masked = masks_server_status(failure)
            one_by_one = one_by_one or masked
            if not (masked or is_retryable(failure)) or attempt + 1 >= policy.attempts:
                raise failure from None
            replayed += len(group)
            await asyncio.sleep(0 if masked else policy.backoff(attempt + 1))
            continue
        summary = IngestSummary(
            accepted=totals.accepted,
            duplicates=totals.duplicates,
            entities_rescored=totals.entities_rescored,
            tier_changes=totals.tier_changes,
            events_sent=sum(len(r.events) for r in group),
            streams=1,
            replayed_batches=replayed,
            suppressed=totals.suppressed,
        )
        return summary, exhausted
    raise AssertionError("unreachable: the loop returns or raises")


async def ingest_stream(
    open_call: Callable[[AsyncIterator[Any]], grpc.aio.StreamUnaryCall],
    batches: AsyncIterator[list[types_pb2.Event]],
    *,
    batches_per_stream: int,
    policy: RetryPolicy,
    progress: Progress | None = None,
    backfill: bool = False,
) -> IngestSummary:
    """Ingests every batch, one bounded stream after another; returns the totals.

    A backfill (historical import) goes as one stream, however long: the server rescores
    what a backfill stream touched once, when the stream ends, so splitting it would
    rescore (and add history points) once per stream."""
    if backfill:
        batches_per_stream = sys.maxsize
    if batches_per_stream < 1:
        raise ValueError("batches_per_stream must be >= 1")
    total = IngestSummary()
    while True:
        first = await anext(batches, None)
        if first is None:
            return total
        summary, exhausted = await _one_stream(
            open_call, first, batches, batches_per_stream, policy, backfill
        )
        total = total.plus(summary)
        if progress is not None:
            progress(total)
        if exhausted:
            return total
