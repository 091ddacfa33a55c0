"""Large IngestEvents messages, parsed, converted and checked in worker processes (S2 ingest).

In a worker thread, converting and checking a 10k-event message (protobuf to columns,
the stored JSON text, validation: ~5 us an event) shared the serving process's GIL with
the loop and the writer, and stored probes' p99 went to 50-70x idle while a stream of
them ran (8-14x with a 0.5 ms switch interval). As for large inline ScoreEntities
requests (rpc/inline_scoring.py), a process of its own takes that work off this GIL.

IngestEvents is registered with a deserializer that hands a message over
convert.PROCESS_BYTES on as EventsBytes, unparsed (grpc's own parse of 10k events was a
single GIL hold of a few ms on the loop). The stream reads the clock and sends the bytes
with what the message is checked against (the limits, the stream's backfill so far) to a
worker, which does what the interceptor and event_ingest do to a parsed message, in the
same order, with the same code: undecodable bytes, the contract (named messages[i]), the
backfill agreement, the columns and check_batch. Nothing else of the service is read
there, so a worker's answer is the serving process's. A bad message raises the same
error at the same point of the stream; nothing of it was queued.

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
from prioscore.server.errors import InvalidArgumentError
from prioscore.server.handlers import CheckedEvents, ProcessPool, Service
from prioscore.server.handlers.ingest import check_batch
from prioscore.server.rpc import convert
from prioscore.server.rpc.inline_scoring import replace_method
from prioscore.server.rpc.interceptor import checked_message, tolerant
from prioscore.v1 import event_service_pb2 as events_pb

__all__ = ["INGEST_PROCESSES", "EventsBytes", "IngestOffload", "register", "stream_backfill"]

SERVICE = "prioscore.v1.EventService"
METHOD = f"/{SERVICE}/IngestEvents"
# Two: a stream converts one message at a time (the next while the writer stores this
# one), so two streams at once both proceed; more would only share this machine's cores
# with the serving process and its writer. Apart from the inline scoring's processes,
# so a message never queues behind a scoring request, nor one behind a stream.
INGEST_PROCESSES = 2

# IncomingEvents's per-event lists, and CheckedEvents's stored JSON text: what is sliced.
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
_STORED = "stored_properties"


class EventsBytes(bytes):
    """A large IngestEvents message left as its bytes, for a worker. Being bytes, it
    passes the interceptor's contract check, which the worker runs on the parsed message."""


def message_or_bytes(data: bytes) -> events_pb.IngestEventsRequest | EventsBytes:
    """IngestEvents's deserializer: EventsBytes for a large message, else parsed."""
    if len(data) > convert.PROCESS_BYTES:
        return EventsBytes(data)
    return events_pb.IngestEventsRequest.FromString(data)


def stream_backfill(
    request: events_pb.IngestEventsRequest, index: int, backfill: bool | None
) -> bool:
    """The stream's backfill: its first message decides (`backfill` None), the later ones
    must agree."""
    if backfill is None or request.backfill == backfill:
        return request.backfill
    raise InvalidArgumentError.of(
        f"messages[{index}].backfill", f"must equal the first message's backfill ({backfill})"
    )


@dataclasses.dataclass(frozen=True)
class _Job:
    """One message as it crosses to a worker: its bytes and what it is checked against."""

    data: bytes
    index: int  # in the stream: the errors' messages[index]
    backfill: bool | None  # the stream's so far
    now: float  # the service's clock, read when the message came
    limits: Limits  # the Service's: check_batch
    contract: Limits  # the interceptor's (Settings.limits)


@dataclasses.dataclass(frozen=True)
class _Checked:
    """A checked message as it crosses back: pickled pieces, each one C call to load."""

    backfill: bool
    rest: bytes  # the CheckedEvents with its per-event lists empty
    rows: tuple[tuple[bytes, ...], ...]  # per name of _ROWS, then _STORED: the pieces


_parse = tolerant(events_pb.IngestEventsRequest.FromString)


def _check(job: _Job) -> _Checked:
    """In a worker: what the interceptor and event_ingest do to a parsed message."""
    request = checked_message(_parse(job.data), METHOD, job.contract, job.index)
    backfill = stream_backfill(request, job.index, job.backfill)
    events = convert.events_from_proto(request.events, f"messages[{job.index}].events")
    checked = check_batch(events, job.limits, job.now)
    columns = [getattr(events, name) for name in _ROWS]
    emptied: dict[str, Any] = {name: [] for name in _ROWS}
    rest = dataclasses.replace(events, **emptied)
    return _Checked(
        backfill,
        pickle.dumps(CheckedEvents(rest, []), pickle.HIGHEST_PROTOCOL),
        tuple(map(_pieces, [*columns, checked.stored_properties])),
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


def _taken_in(checked: _Checked) -> CheckedEvents:
    rest: CheckedEvents = pickle.loads(checked.rest)
    *columns, stored = [_joined(pieces) for pieces in checked.rows]
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

    async def checked(
        self, message: EventsBytes, index: int, backfill: bool | None
    ) -> tuple[CheckedEvents, bool]:
        """Message `index`'s checked batch and the stream's backfill, or the error the
        in-process path raises for it."""
        service = self._service
        job = _Job(
            bytes(message), index, backfill, service.now(), service.limits, self._settings.limits
        )
        answer = await self._pool.call(_check, job)
        return await asyncio.to_thread(_taken_in, answer), answer.backfill

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
