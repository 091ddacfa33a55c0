"""Segment's HTTP tracking API: POST /v1/track, /v1/identify, /v1/group, /v1/page,
/v1/screen, /v1/alias and /v1/batch, so a Segment or RudderStack server-side SDK, a
webhook destination or curl can send to prioscore as they would to Segment.

What it keeps of Segment's contract: basic auth with the write key as user name (the
key is a token of the tokens file holding events:write; without a tokens file the
listener is open, like the gRPC port), gzip bodies (Content-Encoding: gzip), 32 KB per
call and 500 KB per request (config.Limits), a batch-level sentAt, and
200 {"success": true}. Where Segment answers 200 and drops a bad call silently, prioscore
answers 400 with every bad field named and writes nothing: a pipeline learns at once.

Calls go through handlers.segment (the translation IngestSegment uses) and
Service.aingest (the writer, one transaction per request), so validation, dedupe and
transactions are the gRPC path's.
"""

from __future__ import annotations

import json
import math
import zlib
from base64 import b64decode
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from prioscore.server.audit import CALLER
from prioscore.server.errors import InvalidArgumentError, PrioscoreError
from prioscore.server.handlers import Service, parse_json, parse_time, segment_events

Authorize = Callable[[str], str | None]  # write key -> caller name, None = refused
SINGLE_CALLS = ("track", "identify", "group", "page", "screen", "alias")
_SINGLE_PREFIX = "body[0]."
_STATUS = {"FIELD_INVALID": 400, "LIMIT_EXCEEDED": 413, "SHUTTING_DOWN": 503}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status, self.errors = status, errors or []


def segment_app(service: Service, authorize: Authorize | None) -> Starlette:
    """The ASGI app; authorize None = no write key is checked."""
    api = _SegmentApi(service, authorize)
    routes = [Route(f"/v1/{call}", api.endpoint(call), methods=["POST"]) for call in SINGLE_CALLS]
    routes.append(Route("/v1/batch", api.endpoint("batch"), methods=["POST"]))
    return Starlette(routes=routes)


def _failure(status: int, message: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"success": False, "message": message}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status)


class _SegmentApi:
    def __init__(self, service: Service, authorize: Authorize | None) -> None:
        self._service = service
        self._authorize = authorize
        self._limits = service.limits

    def endpoint(self, call: str) -> Callable[[Request], Any]:
        async def handle(request: Request) -> JSONResponse:
            try:
                self._check_key(request)
                calls, sent_at, prefix = await self._calls(request, call)
                events = segment_events(
                    calls,
                    received_at=self._service.now(),
                    kinds=self._service.kinds,
                    sent_at=sent_at,
                    prefix=prefix,
                )
                await self._service.aingest(events)
            except _BadRequest as bad:
                return _failure(bad.status, str(bad), bad.errors)
            except InvalidArgumentError as invalid:
                single = call != "batch"  # its fields as Segment names them: "event"
                errors = [
                    _field(
                        v.field.removeprefix(_SINGLE_PREFIX) if single else v.field, v.description
                    )
                    for v in invalid.violations
                ]
                return _failure(400, "invalid calls; nothing was stored", errors)
            except PrioscoreError as error:
                return _failure(_STATUS.get(error.reason, 400), str(error))
            return JSONResponse({"success": True})

        return handle

    def _check_key(self, request: Request) -> None:
        if self._authorize is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise _BadRequest(401, "basic auth with the write key as user name is required")
        try:
            key = b64decode(encoded, validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            raise _BadRequest(401, "malformed basic auth header") from None
        caller = self._authorize(key)
        if caller is None:
            raise _BadRequest(401, "unknown write key, or its token lacks events:write")
        CALLER.set(caller)

    async def _calls(self, request: Request, call: str) -> tuple[list[Any], float, str]:
        limit = self._limits.max_segment_batch_bytes
        if call != "batch":
            limit = self._limits.max_segment_message_bytes
        body = await _body(request, limit)
        try:
            data = parse_json(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise _BadRequest(400, f"body is not JSON: {error}") from None
        if type(data) is not dict:
            raise _BadRequest(400, "body must be a JSON object")
        if call != "batch":
            data["type"] = call
            return [data], math.nan, "body"  # fields "body[0].x", reported as "x"
        calls = data.get("batch")
        if type(calls) is not list:
            raise _BadRequest(400, "batch must be a list of calls", [_field("batch", "required")])
        self._check_call_sizes(calls, len(body))
        sent_at = math.nan
        if data.get("sentAt") is not None:
            try:
                sent_at = parse_time(data["sentAt"])
            except ValueError as error:
                raise _BadRequest(400, "bad sentAt", [_field("sentAt", str(error))]) from None
        return calls, sent_at, "batch"

    def _check_call_sizes(self, calls: list[Any], body_bytes: int) -> None:
        """Segment's 32 KB per call inside a batch (measured only when it could matter)."""
        limit = self._limits.max_segment_message_bytes
        if body_bytes <= limit:
            return
        too_large = [
            _field(f"batch[{i}]", f"exceeds {limit} bytes")
            for i, one in enumerate(calls)
            if len(json.dumps(one, separators=(",", ":")).encode()) > limit
        ]
        if too_large:
            raise _BadRequest(400, "calls too large; nothing was stored", too_large)


def _field(field: str, description: str) -> dict[str, str]:
    return {"field": field, "description": description}


async def _body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped when sent so, refused past `limit` bytes (after
    decompression too: a small gzip body must not expand without bound)."""
    gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _BadRequest(400, f"body exceeds {limit} bytes")
    if not gzipped:
        return bytes(raw)
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflate.decompress(bytes(raw), limit + 1)
    except zlib.error as error:
        raise _BadRequest(400, f"body is not gzip: {error}") from None
    if len(body) > limit:
        raise _BadRequest(400, f"body exceeds {limit} bytes once decompressed")
    return body
