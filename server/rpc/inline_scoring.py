"""Large inline ScoreEntities requests, scored in worker processes (S2 inline).

In a worker thread, converting and scoring 10k inline events (parsing the messages,
building the columns, the response's Score messages) kept the serving loop behind the
GIL for several switch intervals per call it served: stored probes' p99 went to 12-15x
idle while such requests ran back to back. Bounded slices do not fix a GIL convoy; a
process of its own does (handlers/process_pool.py, as the evaluations).

The serving process only moves bytes. ScoreEntities is registered with a deserializer
that reads a request's top-level fields (a handful of varints, never the events) and,
for an inline one over convert.PROCESS_BYTES, hands on its bytes as InlineBytes instead
of parsing them. The loop resolves the profile by name and reads the clock (a worker has
no catalog), and a worker parses, checks the contract, scores with the servicer's own
code over a Service that answers with what was resolved (handlers.ResolvedService), and
returns the response's bytes, or the domain error with its fields, and the span
attributes the servicer set. What a client sees is what the in-process path answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import grpc
from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from prioscore.server.config import Limits, Settings
from prioscore.server.engine import Profile
from prioscore.server.errors import PrioscoreError
from prioscore.server.handlers import ProcessPool, ResolvedService, Service
from prioscore.server.rpc import convert
from prioscore.server.rpc.interceptor import checked, tolerant
from prioscore.server.store import Store
from prioscore.v1 import scoring_service_pb2 as scoring_pb

__all__ = [
    "INLINE_PROCESSES",
    "InlineBytes",
    "InlineScoring",
    "Scorer",
    "register",
    "replace_method",
]

SERVICE = "prioscore.v1.ScoringService"
METHOD = f"/{SERVICE}/ScoreEntities"
# Two: two large requests at once both start; more would only share this machine's
# cores with the serving process. Apart from the evaluation processes, so an inline
# request (a fraction of a second) never queues behind a backtest (minutes).
INLINE_PROCESSES = 2

_PROFILE = 1
_SOURCES = {2: "stored", 3: "inline_events", 4: "inline_features"}
_INLINE = {"inline_events", "inline_features"}
# A request a client library wrote has at most 7 top-level fields; one with more is
# parsed as usual (its fields are the parser's loop, not this module's).
_MOST_FIELDS = 16


class InlineBytes(bytes):
    """A large inline ScoreEntities request left as its bytes, for a worker. `profile`
    names the call's span as a parsed request's does; being bytes, it passes the
    interceptor's contract check, which the worker runs on the parsed request."""

    profile: str


def request_or_bytes(data: bytes) -> scoring_pb.ScoreEntitiesRequest | InlineBytes:
    """ScoreEntities's deserializer: InlineBytes for a large inline request, else parsed."""
    if len(data) > convert.PROCESS_BYTES:
        profile = _inline_profile(data)
        if profile is not None:
            raw = InlineBytes(data)
            raw.profile = profile
            return raw
    return scoring_pb.ScoreEntitiesRequest.FromString(data)


def response_bytes(response: scoring_pb.ScoreEntitiesResponse | bytes) -> bytes:
    """ScoreEntities's serializer: a worker's answer is already bytes."""
    return response if isinstance(response, bytes) else response.SerializeToString()


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while shift < 64:
        byte = data[pos]  # IndexError past the end: not plainly laid out
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise ValueError("varint longer than 10 bytes")


def _inline_profile(data: bytes) -> str | None:
    """The profile of an inline request, read off its top-level fields as the parser
    would (the last of a field wins, and of the `source` oneof's members), or None: not
    inline, or not plainly laid out (then it is parsed and refused as usual)."""
    profile, source, pos = b"", "", 0
    try:
        for _ in range(_MOST_FIELDS):
            key, pos = _varint(data, pos)
            number, wire = key >> 3, key & 7
            if wire == 0:
                _, pos = _varint(data, pos)
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            elif wire == 2 and number:
                length, pos = _varint(data, pos)
                if number == _PROFILE:
                    profile = data[pos : pos + length]
                source = _SOURCES.get(number, source)
                pos += length
            else:
                return None  # groups, field 0: the parser decides
            if pos >= len(data):
                break
        if pos != len(data) or source not in _INLINE:
            return None
        return profile.decode()
    except (IndexError, ValueError):  # UnicodeDecodeError is a ValueError
        return None


class Scorer(Protocol):
    """What scores a parsed request: the servicer's own code (rpc.servicers)."""

    def _score_entities(
        self, request: scoring_pb.ScoreEntitiesRequest
    ) -> scoring_pb.ScoreEntitiesResponse: ...


@dataclasses.dataclass(frozen=True)
class _Job:
    """One request as it crosses to a worker: its bytes and what the loop resolved."""

    data: bytes
    profile: Profile | PrioscoreError
    now: float
    limits: Limits  # the Service's
    settings: Settings  # the interceptor's and the servicer's
    path: Path
    scorer: Callable[[Service, Settings], Scorer]  # pickled by reference


@dataclasses.dataclass(frozen=True)
class _Answer:
    attributes: dict[str, AttributeValue]
    response: bytes
    error: PrioscoreError | None


class _Noted(trace.NonRecordingSpan):
    """The worker's current span: keeps the attributes the servicer sets, for the call's
    span in the serving process."""

    def __init__(self) -> None:
        super().__init__(trace.INVALID_SPAN_CONTEXT)
        self.attributes: dict[str, AttributeValue] = {}

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.attributes[key] = value


_parse = tolerant(scoring_pb.ScoreEntitiesRequest.FromString)


def _score(job: _Job) -> _Answer:
    """In a worker: what the interceptor and the servicer do to a parsed request."""
    noted = _Noted()
    with trace.use_span(noted, end_on_exit=False):
        try:
            request = checked(_parse(job.data), METHOD, job.settings.limits)
            with Store(job.path, read_only=True) as reads:
                service = ResolvedService(job.profile, reads, job.limits, job.now)
                response = job.scorer(service, job.settings)._score_entities(request)
            return _Answer(noted.attributes, response.SerializeToString(), None)
        except PrioscoreError as error:
            return _Answer(noted.attributes, b"", error)


class InlineScoring:
    """The serving side: resolves, sends a large request's bytes to a worker, answers."""

    def __init__(
        self,
        service: Service,
        settings: Settings,
        scorer: Callable[[Service, Settings], Scorer],
        processes: int = INLINE_PROCESSES,
    ) -> None:
        self._service = service
        self._settings = settings
        self._scorer = scorer
        self._pool = ProcessPool(processes, preload=[__name__, scorer.__module__])

    async def score(self, request: InlineBytes) -> bytes:
        """The response's bytes, or the error the in-process path would raise."""
        service = self._service
        profile: Profile | PrioscoreError
        try:
            profile = service.get_profile(request.profile)
        except PrioscoreError as error:  # raised where the in-process path would
            profile = error
        job = _Job(
            bytes(request),
            profile,
            service.now(),
            service.limits,
            self._settings,
            service.store.path,
            self._scorer,
        )
        answer = await self._pool.call(_score, job)
        trace.get_current_span().set_attributes(answer.attributes)
        if answer.error is not None:
            raise answer.error
        return answer.response

    def close(self) -> None:
        """Ends the workers once their current request is done, and waits for them: at
        shutdown, after the last call (requests are bounded: a fraction of a second)."""
        self._pool.close(wait=True)


def register(server: grpc.aio.Server, score_entities: Callable[..., Any]) -> None:
    """Registers ScoreEntities on request_or_bytes / response_bytes."""
    handler = grpc.unary_unary_rpc_method_handler(
        score_entities, request_deserializer=request_or_bytes, response_serializer=response_bytes
    )
    replace_method(server, SERVICE, "ScoreEntities", handler)


def replace_method(
    server: grpc.aio.Server, service: str, method: str, handler: grpc.RpcMethodHandler
) -> None:
    """Registers `handler` in place of the generated one of service/method (also for
    IngestEvents, rpc/ingest_offload.py): grpc lets a method's registered handler be
    replaced, and a registered handler takes precedence over the generic one
    (grpc.aio.Server docs)."""
    methods = {method: handler}
    server.add_registered_method_handlers(service, methods)  # type: ignore[attr-defined]
