"""The bulk path: feature matrices through the bidi StreamScores RPC, pipelined.

Each chunk becomes one request (`Matrix` bytes: dtype + shape + little-endian data) and
the server answers each with one response of columnar vectors, in request order. The
client keeps `window` chunks in flight so the server always has the next batch queued
while the previous answer travels back; there is no per-row Python work anywhere.

Two things make long runs robust:

* streams rotate every `batches_per_stream` batches, so the per-call deadline bounds one
  stream (not a whole multi-gigabyte file) and the server's per-stream message limit is
  never reached;
* on UNAVAILABLE / DEADLINE_EXCEEDED the unanswered batches (at most `window`) are
  re-sent on a fresh stream: StreamScores is read-only, so a replay cannot change state.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np

from prioscore.clients.arrays import matrix, vector_to_numpy
from prioscore.clients.errors import ProtocolError, from_rpc_error
from prioscore.clients.models import MatrixScores
from prioscore.clients.retry import RetryPolicy, is_retryable
from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import types_pb2

T = TypeVar("T")
METHOD = "StreamScores"
_F8, _I4, _B1 = np.dtype(np.float64), np.dtype(np.int32), np.dtype(bool)


class Feed:
    """A request iterator fed from a queue: the loop below decides when to send.

    Writing with call.write() would be simpler, but a write that races the server
    ending the stream replaces the server's real status (UNAVAILABLE, INVALID_ARGUMENT
    with its field violations) with a generic INTERNAL; with a request iterator gRPC
    just stops consuming and the next read reports the real status.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    async def requests(self) -> AsyncIterator[Any]:
        while True:
            request = await self._queue.get()
            if request is None:
                return
            yield request

    def send(self, request: Any) -> None:
        self._queue.put_nowait(request)

    def close(self) -> None:
        self._queue.put_nowait(None)


@dataclass
class _Pending:
    """A chunk sent (or, with 0 rows, answered locally) whose response is still due."""

    sequence: int
    tag: Any
    request: scoring_pb.StreamScoresRequest | None  # None: zero rows, nothing sent


def decode_response(response: scoring_pb.StreamScoresResponse, rows: int) -> MatrixScores:
    """Columnar response -> MatrixScores (zero-copy views of the response bytes)."""
    result = MatrixScores(
        vector_to_numpy(response.scores, _F8),
        vector_to_numpy(response.tiers, _I4),
        tuple(response.tier_names),
        vector_to_numpy(response.disqualified, _B1),
    )
    lengths = {result.scores.shape[0], result.tiers.shape[0], result.disqualified.shape[0]}
    if lengths != {rows}:
        raise ProtocolError(
            f"batch {response.sequence}: {rows} rows sent, got {result.scores.shape[0]} scores",
            method=METHOD,
        )
    return result


def _empty(tier_names: tuple[str, ...]) -> MatrixScores:
    return MatrixScores(np.empty(0, _F8), np.empty(0, _I4), tier_names, np.empty(0, _B1))


async def stream_scores(
    open_call: Callable[[AsyncIterator[Any]], grpc.aio.StreamStreamCall],
    profile: str,
    items: AsyncIterator[tuple[T, np.ndarray]],
    *,
    window: int = 4,
    batches_per_stream: int = 200,
    policy: RetryPolicy,
    columns: Sequence[str] = (),
) -> AsyncIterator[tuple[T, MatrixScores]]:
    """Scores (tag, features) items in order, yielding (tag, MatrixScores) per item."""
    if window < 1 or batches_per_stream < 1:
        raise ValueError("window and batches_per_stream must be >= 1")
    pending: deque[_Pending] = deque()
    sequence = 0
    exhausted = False
    failures = 0
    tier_names: tuple[str, ...] = ()
    call: grpc.aio.StreamStreamCall | None = None
    written, closed = 0, False  # per stream: batches sent, end of requests sent
    feed = Feed()
    try:
        while True:
            # Answer leading zero-row chunks locally, keeping the caller's order.
            while pending and pending[0].request is None:
                yield pending.popleft().tag, _empty(tier_names)
            if call is None:
                if exhausted and not pending:
                    return
                feed = Feed()
                call = open_call(feed.requests())
                written, closed = 0, False
                for entry in pending:  # replay after a retried failure
                    if entry.request is not None:
                        feed.send(entry.request)
                        written += 1
            try:
                while not exhausted and len(pending) < window and written < batches_per_stream:
                    item = await anext(items, None)
                    if item is None:
                        exhausted = True
                        break
                    tag, features = item
                    sequence += 1
                    if len(features) == 0:
                        pending.append(_Pending(sequence, tag, None))
                        continue
                    request = scoring_pb.StreamScoresRequest(
                        profile=profile,
                        sequence=sequence,
                        features=matrix(features, columns),
                        response_encoding=types_pb2.ARRAY_ENCODING_BYTES,
                    )
                    pending.append(_Pending(sequence, tag, request))
                    feed.send(request)
                    written += 1
                if not closed and (exhausted or written >= batches_per_stream):
                    feed.close()
                    closed = True
                if pending and pending[0].request is None:
                    continue
                if not pending and not closed:
                    continue
                response = await call.read()
            except grpc.RpcError as error:
                failure = from_rpc_error(error, METHOD)
                call.cancel()
                call = None
                failures += 1
                if not is_retryable(failure) or failures >= policy.attempts:
                    raise failure from None
                await asyncio.sleep(policy.backoff(failures))
                continue
            if response is grpc.aio.EOF:
                unanswered = sum(1 for p in pending if p.request is not None)
                if unanswered:
                    raise ProtocolError(
                        f"stream ended with {unanswered} batches unanswered", method=METHOD
                    )
                call = None  # rotate: next loop opens a fresh stream if input remains
                continue
            head = pending.popleft()
            if response.sequence != head.sequence or head.request is None:
                raise ProtocolError(
                    f"expected the answer to batch {head.sequence}, got {response.sequence}",
                    method=METHOD,
                )
            failures = 0  # progress: a later hiccup gets the full retry budget again
            result = decode_response(response, int(head.request.features.shape[0]))
            tier_names = result.tier_names
            yield head.tag, result
    finally:
        if call is not None:
            call.cancel()
