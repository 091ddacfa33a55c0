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

from prioscore.clients.arrays import encode_stream_request, vector_to_numpy
from prioscore.clients.errors import ProtocolError, from_rpc_error, masks_server_status
from prioscore.clients.models import MatrixScores
from prioscore.clients.retry import RetryPolicy, is_retryable
from prioscore.v1 import scoring_service_pb2 as scoring_pb

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
    request: bytes | None  # the encoded request, kept for a replay; None: zero rows
    rows: int = 0
    sent: bool = False  # sent on the current stream


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
    """Scores (tag, features) items in order, yielding (tag, MatrixScores) per item.

    After a failure whose real status was masked (errors.masks_server_status) the
    unanswered batches are re-sent one at a time, so a batch the server rejects comes
    back with the server's own status and field violations.
    """
    if window < 1 or batches_per_stream < 1:
        raise ValueError("window and batches_per_stream must be >= 1")
    pending: deque[_Pending] = deque()
    sequence = 0
    exhausted = False
    failures = 0
    careful = 0  # batches still to be answered one at a time after a masked failure
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
                for entry in pending:
                    entry.sent = False
            limit = 1 if careful else window
            in_flight = sum(1 for p in pending if p.sent)
            for entry in pending:  # replays after a retried failure, window permitting
                if in_flight >= limit or written >= batches_per_stream:
                    break
                if entry.request is not None and not entry.sent:
                    feed.send(entry.request)
                    entry.sent = True
                    written += 1
                    in_flight += 1
            unsent = any(p.request is not None and not p.sent for p in pending)
            while (
                not exhausted
                and not unsent
                and len(pending) < window
                and in_flight < limit
                and written < batches_per_stream
            ):
                item = await anext(items, None)
                if item is None:
                    exhausted = True
                    break
                tag, features = item
                sequence += 1
                if len(features) == 0:
                    pending.append(_Pending(sequence, tag, None))
                    continue
                request = encode_stream_request(profile, sequence, features, columns)
                pending.append(_Pending(sequence, tag, request, len(features), sent=True))
                feed.send(request)
                written += 1
                in_flight += 1
            if not closed and ((exhausted and not unsent) or written >= batches_per_stream):
                feed.close()
                closed = True
            if pending and pending[0].request is None:
                continue
            if not in_flight and not closed:
                continue
            try:
                response: Any = await call.read()
            except grpc.RpcError as error:
                failure = from_rpc_error(error, METHOD)
                call.cancel()
                call = None
                failures += 1
                masked = masks_server_status(failure)
                if masked:
                    careful = len(pending)
                if not (masked or is_retryable(failure)) or failures >= policy.attempts:
                    raise failure from None
                await asyncio.sleep(0 if masked else policy.backoff(failures))
                continue
            if response is grpc.aio.EOF:  # type: ignore[attr-defined]
                if in_flight:
                    raise ProtocolError(
                        f"stream ended with {in_flight} batches unanswered", method=METHOD
                    )
                call = None  # rotate: the next loop opens a fresh stream if work remains
                continue
            head = pending.popleft()
            if response.sequence != head.sequence or not head.sent:
                raise ProtocolError(
                    f"expected the answer to batch {head.sequence}, got {response.sequence}",
                    method=METHOD,
                )
            failures = 0  # progress: a later hiccup gets the full retry budget again
            careful = max(0, careful - 1)
            result = decode_response(response, head.rows)
            tier_names = result.tier_names
            yield head.tag, result
    finally:
        if call is not None:
            call.cancel()
