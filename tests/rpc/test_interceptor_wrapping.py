"""The interceptor wraps a method's handler once, and wraps anew whatever handler an inner
interceptor hands over instead (a rejection, a guarded handler): a cached wrapping must
never run a handler other than the one found for this call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN

from prioscore.server.rpc import interceptor as interceptor_module
from prioscore.server.rpc.interceptor import ErrorTranslationInterceptor

METHOD = "/prioscore.v1.ScoringService/ScoreEntities"


class _Details:
    method = METHOD
    invocation_metadata = ()


class _Context:
    """As much of a ServicerContext as an OK call's span and metric read."""

    def peer(self) -> str:
        return "ipv4:127.0.0.1:5000"


def _handler(answer: str) -> grpc.RpcMethodHandler:
    async def behaviour(request: Any, context: Any) -> str:
        return answer

    return grpc.unary_unary_rpc_method_handler(behaviour)


def _intercept(interceptor: ErrorTranslationInterceptor, found: Any) -> Any:
    async def continuation(details: Any) -> Any:
        return found

    return asyncio.run(interceptor.intercept_service(continuation, _Details()))


def _call(wrapped: Any) -> Any:
    return asyncio.run(wrapped.unary_unary(b"", _Context()))


def test_the_same_handler_is_wrapped_once_and_a_new_one_anew() -> None:
    interceptor = ErrorTranslationInterceptor()
    first, other = _handler("first"), _handler("other")
    wrapped = _intercept(interceptor, first)
    assert _intercept(interceptor, first) is wrapped  # no closures built per call
    assert _call(wrapped) == "first"
    rewrapped = _intercept(interceptor, other)
    assert rewrapped is not wrapped
    assert _call(rewrapped) == "other"
    assert _call(_intercept(interceptor, first)) == "first"  # and back


def test_a_method_without_a_handler_is_not_remembered() -> None:
    interceptor = ErrorTranslationInterceptor()
    assert _intercept(interceptor, None) is None
    assert interceptor._wrapped == {}


def test_each_streaming_step_runs_under_the_call_span_and_records_its_error() -> None:
    """Every response of a server stream is produced with the call's span current (what
    servicers annotate), and an exception raised in a step is recorded on that span."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    seen: list[int] = []

    async def behaviour(request: Any, context: Any) -> AsyncIterator[int]:
        for step in range(3):
            seen.append(trace.get_current_span().get_span_context().span_id)
            yield step
        raise ValueError("broken step")

    async def read(wrapped: Any) -> list[int]:
        got = []
        with pytest.raises(grpc.aio.AbortError):
            async for response in wrapped.unary_stream(b"", _AbortingContext()):
                assert trace.get_current_span() is INVALID_SPAN  # detached between steps
                got.append(response)
        return got

    found = grpc.unary_stream_rpc_method_handler(behaviour)
    with patch.object(interceptor_module, "_tracer", provider.get_tracer("test")):
        wrapped = _intercept(ErrorTranslationInterceptor(), found)
        assert asyncio.run(read(wrapped)) == [0, 1, 2]
    (span,) = exporter.get_finished_spans()
    assert seen == [span.context.span_id] * 3
    assert span.status.status_code == trace.StatusCode.ERROR
    # Recorded by the step (as trace.use_span records it) and by the call's INTERNAL.
    assert [e.attributes["exception.message"] for e in span.events if e.attributes] == [
        "broken step",
        "broken step",
    ]


class _AbortingContext(_Context):
    async def abort(self, code: grpc.StatusCode, details: str, trailers: Any = ()) -> None:
        raise grpc.aio.AbortError(details)
