"""Large IngestEvents messages, parsed, converted and checked in worker processes (S2 ingest).

In a worker thread, converting and checking a 10k-event message (protobuf to columns,
the stored JSON text, validation: ~5 us an event) shared the serving process's GIL with
the loop and the writer, and stored probes' p99 went to 50-70x idle while a stream of
them ran (8-14x with a 0.5 ms switch interval). As for large inline ScoreEntities
requests (rpc/inline_scoring.py), a process of its own takes that work off this GIL.

IngestEvents is registered with a deserializer that hands a message over
convert.PROCESS_BYTES on as EventsBytes, unparsed (grpc's own parse of 10k events was a
single GIL hold of a few ms on the loop). The stream reads the clock and sends the bytes
with the limits to a worker, which does what the interceptor and event_ingest do to a
parsed message, with the same code: undecodable bytes and the contract (named
messages[i]), the columns and check_batch. Nothing else of the service is read there.
The worker returns its errors rather than raising them, and the stream raises each where
the serving process does: the first two before the stream's backfill is compared (on the
loop, in message order: event_ingest), the others after. So a bad message fails with the
same error at the same point of the stream, and nothing of it is queued.

What crosses back is cheap to take in: the batch's per-event lists are pickled GIL_SLICE
items per piece and unpickled piece by piece in a thread (the GIL changes hands between
pieces), the rest (numpy columns, scalars) as one small piece.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
from collections.abc import Callable
from itertools import chain
from typing import Any

import grpc

from prioscore.server.config import Limits, Settings
from prioscore.server.engine import GIL_SLICE
from prioscore.server.errors import InvalidArgumentError, PrioscoreError
from prioscore.server.handlers import CheckedEvents, ProcessPool, Service, check_batch
from prioscore.server.rpc import convert
from prioscore.server.rpc.inline_scoring import replace_method
from prioscore.server.rpc.interceptor import checked_message, tolerant
from prioscore.v1 import event_service_pb2 as events_pb

__all__ = [
    "INGEST_PROCESSES",
    "Converted",
    "EventsBytes",
    "IngestOffload",
    "register",
    "stream_backfill",
]

SERVICE = "prioscore.v1.EventService"
METHOD = f"/{SERVICE}/IngestEvents"
# Two: a stream converts one message at a time (the next while the writer stores this
# one), so two streams at once both proceed; more would only share this machine's cores
# with the serving process and its writer. Apart from the inline scoring's processes,
# so a message never queues behind a scoring request, nor one behind a stream.
INGEST_PROCESSES = 2

# IncomingEvents's per-event lists: what is sliced (with CheckedEvents's stored JSON text).
_ROWS = (
    "message_id",
    "kind",
    "entity_id",
    "event",
    "properties",
    "metrics",
    "traits",
    "numeric_traits",
    "account_id",
    "entity_kind",
)


class EventsBytes(bytes):
    """A large IngestEvents message left as its bytes, for a worker. Being bytes, it
    passes the interceptor's contract check, which the worker runs on the parsed message."""


def message_or_bytes(data: bytes) -> events_pb.IngestEventsRequest | EventsBytes:
    """IngestEvents's deserializer: EventsBytes for a large message, else parsed."""
    if len(data) > convert.PROCESS_BYTES:
        return EventsBytes(data)
    return events_pb.IngestEventsRequest.FromString(data)


def stream_backfill(given: bool, index: int, backfill: bool | None) -> bool:
    """The stream's backfill: its first message decides (`backfill` None), the later ones
    must agree (`given`: message `index`'s)."""
    if backfill is None or given == backfill:
        return given
    raise InvalidArgumentError.of(
        f"messages[{index}].backfill", f"must equal the first message's backfill ({backfill})"
    )


@dataclasses.dataclass(frozen=True)
class _Job:
    """One message as it crosses to a worker: its bytes and what it is checked against."""

    data: bytes
    index: int  # in the stream: the errors' messages[index]
    now: float  # the service's clock, read when the message came
    limits: Limits  # the Service's: check_batch
    contract: Limits  # the interceptor's (Settings.limits)


@dataclasses.dataclass(frozen=True)
class Converted:
    """A message as it crosses back: its errors, each raised where the serving process
    raises it (`unread`: where the interceptor does, before the stream's backfill is
    compared; `refused`: after), or the checked batch in pickled pieces (see _pieces)."""

    backfill: bool = False  # the message's own
    unread: PrioscoreError | None = None
    refused: PrioscoreError | None = None
    rest: bytes = b""  # the CheckedEvents with its per-event lists empty
    rows: tuple[
        tuple[bytes, ...], ...
    ] = ()  # per name of _ROWS, then the stored JSON text: the pieces


_parse = tolerant(events_pb.IngestEventsRequest.FromString)


def _check(job: _Job) -> Converted:
    """In a worker: what the interceptor and event_ingest do to a parsed message."""
    try:
        request = checked_message(_parse(job.data), METHOD, job.contract, job.index)
    except PrioscoreError as error:
        return Converted(unread=error)
    try:
        events = convert.events_from_proto(request.events, f"messages[{job.index}].events")
        checked = check_batch(events, job.limits, job.now)
    except PrioscoreError as error:
        return Converted(request.backfill, refused=error)
    columns = [getattr(events, name) for name in _ROWS]
    emptied: dict[str, Any] = {name: [] for name in _ROWS}
    rest = dataclasses.replace(events, **emptied)
    return Converted(
        request.backfill,
        rest=pickle.dumps(CheckedEvents(rest, []), pickle.HIGHEST_PROTOCOL),
        rows=tuple(map(_pieces, [*columns, checked.stored_properties])),
    )


def _pieces(values: list[Any]) -> tuple[bytes, ...]:
    return tuple(
        pickle.dumps(values[at : at + GIL_SLICE], pickle.HIGHEST_PROTOCOL)
        for at in range(0, len(values), GIL_SLICE)
    )


def _joined(pieces: tuple[bytes, ...]) -> list[Any]:
    """One list from its pieces: a C call per piece, so the GIL changes hands between
    them (unpickling a 10k-event batch whole held it for 3-7 ms)."""
    return list(chain.from_iterable([pickle.loads(piece) for piece in pieces]))


def _taken_in(converted: Converted) -> CheckedEvents:
    rest: CheckedEvents = pickle.loads(converted.rest)
    *columns, stored = [_joined(pieces) for pieces in converted.rows]
    rows: dict[str, Any] = dict(zip(_ROWS, columns, strict=True))
    events = dataclasses.replace(rest.events, **rows)
    return CheckedEvents(events, stored)


class IngestOffload:
    """The serving side: sends a large message's bytes to a worker, takes in its batch."""

    def __init__(
        self, service: Service, settings: Settings, processes: int = INGEST_PROCESSES
    ) -> None:
        self._service = service
        self._settings = settings
        self._pool = ProcessPool(processes, preload=[__name__])

    async def start(self) -> None:
        """A worker started before the first stream: a stream of large messages (each
        ~10-80 ms of work) would wait for the first one's start, ~0.5-1 s, as long as
        for all the rest (P5 quick: 20k events took 1.5 s, not 0.6 s)."""
        await self._pool.start()

    def convert(self, message: EventsBytes, index: int) -> asyncio.Future[Converted]:
        """Starts converting message `index` in a worker (cancel the future to withdraw
        it); taken_in() takes in the answer."""
        service = self._service
        job = _Job(bytes(message), index, service.now(), service.limits, self._settings.limits)
        return asyncio.ensure_future(self._pool.call(_check, job))

    async def taken_in(
        self, converted: Converted, index: int, backfill: bool | None
    ) -> tuple[CheckedEvents, bool]:
        """Message `index`'s checked batch and the stream's backfill, or the error the
        in-process path raises for it, in the same order."""
        if converted.unread is not None:
            raise converted.unread
        backfill = stream_backfill(converted.backfill, index, backfill)
        if converted.refused is not None:
            raise converted.refused
        return await asyncio.to_thread(_taken_in, converted), backfill

    def close(self) -> None:
        """Ends the workers once their current message is done, and waits for them: at
        shutdown, after the last call (a message is bounded: tens of milliseconds)."""
        self._pool.close(wait=True)


def register(server: grpc.aio.Server, ingest_events: Callable[..., Any]) -> None:
    """Registers IngestEvents on message_or_bytes (see inline_scoring.replace_method)."""
    handler = grpc.stream_unary_rpc_method_handler(
        ingest_events,
        request_deserializer=message_or_bytes,
        response_serializer=events_pb.IngestEventsResponse.SerializeToString,
    )
    replace_method(server, SERVICE, "IngestEvents", handler)
