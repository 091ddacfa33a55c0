"""The interceptor wraps a method's handler once, and wraps anew whatever handler an inner
interceptor hands over instead (a rejection, a guarded handler): a cached wrapping must
never run a handler other than the one found for this call."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

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
