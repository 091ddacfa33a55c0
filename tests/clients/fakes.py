"""Scripted fake servers for the client's retry and deadline behaviour.

The real server does not fail on demand, so these servicers (built on the generated
stubs) fail the way networks do — UNAVAILABLE before or after doing the work — and
count what they saw. Each runs on its own loop thread, bound to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from prioscore.v1 import event_service_pb2 as events_pb
from prioscore.v1 import event_service_pb2_grpc as events_grpc
from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import scoring_service_pb2_grpc as scoring_grpc
from prioscore.v1 import types_pb2

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


@dataclass
class Script:
    """What the fakes should do and what they observed."""

    fail_first: int = 0  # unary calls failing with UNAVAILABLE before succeeding
    stream_fail_after: int | None = None  # StreamScores: answers before the first stream dies
    ingest_fail_streams: int = 0  # IngestEvents streams that store, then fail
    erase_lost_first: bool = False  # EraseEntity: first call erases, then UNAVAILABLE
    reject_sequence: int | None = None  # StreamScores: INVALID_ARGUMENT at this batch
    reject_message: str | None = None  # IngestEvents: INVALID_ARGUMENT at this message id
    calls: dict[str, int] = field(default_factory=dict)
    deadlines: dict[str, list[float | None]] = field(default_factory=dict)
    sequences: list[list[int]] = field(default_factory=list)  # per StreamScores stream
    stored: set[str] = field(default_factory=set)

    def seen(self, method: str, context: grpc.aio.ServicerContext) -> int:
        self.calls[method] = self.calls.get(method, 0) + 1
        self.deadlines.setdefault(method, []).append(context.time_remaining())
        return self.calls[method]


async def reject(context: grpc.aio.ServicerContext, field: str) -> None:
    """Aborts like the real server: INVALID_ARGUMENT + BadRequest in the details trailer."""
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=field, description="bad")
            ]
        )
    )
    status = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=f"{field}: bad", details=[detail])
    )
    await context.abort(status.code, status.details, status.trailing_metadata)


def _vector(array: np.ndarray, dtype: int) -> types_pb2.Vector:
    return types_pb2.Vector(dtype=dtype, length=array.shape[0], data=array.tobytes())


class FakeScoring(scoring_grpc.ScoringServiceServicer):
    def __init__(self, script: Script) -> None:
        self.script = script

    async def ScoreEntities(self, request: Any, context: Any) -> Any:
        if self.script.seen("ScoreEntities", context) <= self.script.fail_first:
            await context.abort(UNAVAILABLE, "try again")
        return scoring_pb.ScoreEntitiesResponse(
            scores=[types_pb2.Score(entity_id=i, score=1.0) for i in request.stored.entity_ids]
        )

    async def StreamScores(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        stream = self.script.seen("StreamScores", context)
        seen: list[int] = []
        self.script.sequences.append(seen)
        async for request in requests:
            seen.append(request.sequence)
            if request.sequence == self.script.reject_sequence:
                await reject(context, f"batch {request.sequence}.features")
            if stream == 1 and self.script.stream_fail_after == len(seen) - 1:
                await context.abort(UNAVAILABLE, "connection reset")
            rows, cols = request.features.shape
            features = np.frombuffer(request.features.data, "<f8").reshape(rows, cols)
            scores = features.sum(axis=1)  # a score the test can predict: the row sum
            yield scoring_pb.StreamScoresResponse(
                sequence=request.sequence,
                scores=_vector(scores.astype("<f8"), types_pb2.DTYPE_FLOAT64),
                tiers=_vector(np.zeros(rows, "<i4"), types_pb2.DTYPE_INT32),
                tier_names=["only"],
                disqualified=_vector(np.zeros(rows, bool), types_pb2.DTYPE_BOOL),
            )


class FakeEvents(events_grpc.EventServiceServicer):
    def __init__(self, script: Script) -> None:
        self.script = script

    async def IngestEvents(self, requests: AsyncIterator[Any], context: Any) -> Any:
        stream = self.script.seen("IngestEvents", context)
        accepted = duplicates = 0
        async for request in requests:
            for event in request.events:
                if event.message_id == self.script.reject_message:
                    await reject(context, "events[0].message_id")
                if event.message_id in self.script.stored:
                    duplicates += 1
                else:
                    self.script.stored.add(event.message_id)
                    accepted += 1
        if stream <= self.script.ingest_fail_streams:
            await context.abort(UNAVAILABLE, "stored, but the answer was lost")
        return events_pb.IngestEventsResponse(accepted=accepted, duplicates=duplicates)

    async def UpsertEntities(self, request: Any, context: Any) -> Any:
        self.script.seen("UpsertEntities", context)
        await context.abort(UNAVAILABLE, "down")

    async def EraseEntity(self, request: Any, context: Any) -> Any:
        call = self.script.seen("EraseEntity", context)
        if self.script.erase_lost_first and call == 1:
            await context.abort(UNAVAILABLE, "erased, but the answer was lost")
        if self.script.erase_lost_first:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"entity {request.entity_id!r}")
        return events_pb.EraseEntityResponse(events_removed=2, entity_removed=True)


@dataclass
class FakeServer:
    target: str
    script: Script


def run_fake(script: Script) -> Iterator[FakeServer]:
    """Generator fixture body: starts the fake on 127.0.0.1:0, yields it, stops it."""
    loop = asyncio.new_event_loop()
    ready: Future[tuple[grpc.aio.Server, int]] = Future()

    async def boot() -> None:
        server = grpc.aio.server()
        scoring_grpc.add_ScoringServiceServicer_to_server(FakeScoring(script), server)
        events_grpc.add_EventServiceServicer_to_server(FakeEvents(script), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        ready.set_result((server, port))

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(boot(), loop)
    server, port = ready.result(timeout=10)
    try:
        yield FakeServer(f"127.0.0.1:{port}", script)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
