"""The Segment HTTP listener beside the real gRPC server, on a loopback port."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from prioscore.server.http import SegmentListener, segment_app, start_segment_listener
from tests.conftest import ServerHandle

WRITE_KEY = "wk-pipeline"
KEYS = {WRITE_KEY: "pipeline", "wk-reader": None}  # the reader's token lacks events:write


@dataclass
class Http:
    handle: ServerHandle
    listener: SegmentListener

    @property
    def url(self) -> str:
        return self.listener.url

    def post(
        self,
        path: str,
        body: Any,
        *,
        key: str | None = WRITE_KEY,
        zipped: bool = False,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if zipped:
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        if key is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        request = Request(self.url + path, data=data, headers=headers, method="POST")
        try:
            with urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def start_http(grpc_server: ServerHandle) -> Iterator[Callable[..., Http]]:
    started: list[Http] = []

    def start(authorize: Any = KEYS.get) -> Http:
        app = segment_app(grpc_server.service, authorize)
        listening = asyncio.run_coroutine_threadsafe(
            start_segment_listener(app, "127.0.0.1:0"), grpc_server.loop
        )
        http = Http(grpc_server, listening.result(timeout=30))
        started.append(http)
        return http

    yield start
    for http in started:
        asyncio.run_coroutine_threadsafe(http.listener.stop(), grpc_server.loop).result(30)


@pytest.fixture
def http(start_http: Callable[..., Http]) -> Http:
    return start_http()
