"""Benchmark: StreamScores bulk throughput against an echo bidi stream, same run.

    .venv/bin/python bench/service_stream.py [--quick] [--profile-server DIR]

The echo anchor is a raw-bytes bidi method on the SAME server (see _service_common) that
returns the response size a StreamScores response has, so both move the same bytes.
Figures (PERFORMANCE.md):
  P4   StreamScores, 10k rows x 32 float64 raw bytes per message: entities/s (>= 2M/s) and
       vs an echo bidi stream with the same request and response sizes (>= 0.5x).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, info, median
from _service_common import ECHO_STREAM, N_SIGNALS_BULK, Group, Run, ServerProcess, main

# The client library's wire encoder (one copy of the data); _client_encode_costs checks it
# against the generated code, so the bench measures the service, not protobuf's encode of
# 2.5 MB.
from prioscore.clients.arrays import encode_stream_request
from prioscore.v1 import scoring_service_pb2, scoring_service_pb2_grpc, types_pb2

ROWS_PER_MESSAGE = 10_000


def _identity(data: bytes) -> bytes:
    return data


async def _stream_once(
    channel: grpc.aio.Channel, kind: str, x: np.ndarray, n_msgs: int, resp_size: int
) -> float:
    """Seconds to push n_msgs batches (raw float64 bytes, encoded per message) and read
    every response (score responses are parsed and their scores viewed with numpy)."""

    async def requests() -> AsyncIterator[bytes]:
        for i in range(n_msgs):
            yield encode_stream_request("bench32", i, x)

    rows = 0
    start = time.perf_counter()
    if kind == "score":
        method = channel.stream_stream(
            "/prioscore.v1.ScoringService/StreamScores",
            request_serializer=_identity,
            response_deserializer=scoring_service_pb2.StreamScoresResponse.FromString,
        )
        async for response in method(requests(), timeout=120):
            rows += len(np.frombuffer(response.scores.data, dtype="<f8"))
    else:
        method = channel.stream_stream(ECHO_STREAM)
        call = method(requests(), metadata=(("x-resp-size", str(resp_size)),), timeout=120)
        async for _ in call:
            rows += x.shape[0]
    elapsed = time.perf_counter() - start
    assert rows == n_msgs * x.shape[0], (kind, rows)
    return elapsed


def _client_encode_costs(x: np.ndarray) -> str:
    """ms per message to build + serialize a request: generated code vs hand-encoded."""

    def generated() -> bytes:
        return scoring_service_pb2.StreamScoresRequest(
            profile="bench32",
            sequence=1,
            response_encoding=types_pb2.ARRAY_ENCODING_BYTES,
            features=types_pb2.Matrix(
                dtype=types_pb2.DTYPE_FLOAT64, shape=list(x.shape), data=x.tobytes()
            ),
        ).SerializeToString()

    def in_place() -> bytes:
        request = scoring_service_pb2.StreamScoresRequest(
            profile="bench32", sequence=1, response_encoding=types_pb2.ARRAY_ENCODING_BYTES
        )
        request.features.dtype = types_pb2.DTYPE_FLOAT64
        request.features.shape[:] = list(x.shape)
        request.features.data = x.tobytes()
        return request.SerializeToString()

    assert generated() == encode_stream_request("bench32", 1, x) == in_place()
    costs = []
    for fn in (generated, in_place, lambda: encode_stream_request("bench32", 1, x)):
        fn()
        start = time.perf_counter()
        for _ in range(20):
            fn()
        costs.append((time.perf_counter() - start) / 20 * 1e3)
    return (
        f"client encode per 10k x 32 message: generated Request(features=Matrix(...))"
        f".SerializeToString() {costs[0]:.2f} ms, fields set in place + serialize "
        f"{costs[1]:.2f} ms, hand-encoded (used here) {costs[2]:.2f} ms"
    )


async def _p4(target: str, n_msgs: int, repeats: int) -> None:
    x = np.random.default_rng(4).uniform(0, 5, size=(ROWS_PER_MESSAGE, N_SIGNALS_BULK))
    encode_note = _client_encode_costs(x)
    options = [("grpc.max_receive_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        probe = scoring_service_pb2_grpc.ScoringServiceStub(channel).StreamScores(
            iter(
                [
                    scoring_service_pb2.StreamScoresRequest.FromString(
                        encode_stream_request("bench32", 0, x)
                    )
                ]
            ),
            timeout=30,
        )
        [first] = [r async for r in probe]
        assert first.scores.length == ROWS_PER_MESSAGE
        resp_size = first.ByteSize()
        req_size = len(encode_stream_request("bench32", 1, x))
        await _stream_once(channel, "echo", x, 10, resp_size)  # warm-up (window ramp)
        await _stream_once(channel, "score", x, 10, resp_size)
        times: dict[str, list[float]] = {"echo": [], "score": []}
        for _ in range(repeats):
            for kind in ("echo", "score"):
                times[kind].append(await _stream_once(channel, kind, x, n_msgs, resp_size))
    n = n_msgs * ROWS_PER_MESSAGE
    rate = {k: n / median(v) for k, v in times.items()}
    detail = (
        f"{n_msgs} msgs x {ROWS_PER_MESSAGE} x {N_SIGNALS_BULK} f64 "
        f"(req {req_size / 1e6:.2f} MB, resp {resp_size / 1e3:.0f} kB); median of {repeats}"
    )
    figure(
        "P4  stream entities/s",
        rate["score"] / 1e6,
        2.0,
        True,
        f"StreamScores {rate['score'] / 1e6:.2f}M entities/s; {detail}",
        unit="M/s",
    )
    figure(
        "P4  stream vs echo stream",
        rate["score"] / rate["echo"],
        0.5,
        True,
        f"score {rate['score'] / 1e6:.2f}M/s vs echo bidi {rate['echo'] / 1e6:.2f}M/s "
        f"({rate['echo'] * req_size / ROWS_PER_MESSAGE / 1e6:.0f} MB/s up); {detail}",
    )
    info("P4  client encode", encode_note)


def run(ctx: Run) -> None:
    server = ServerProcess("stream", ctx.profiles, ctx.workdir, ctx.profile_dir)
    try:
        asyncio.run(_p4(server.target, 10 if ctx.quick else 50, 2 if ctx.quick else 3))
    finally:
        server.stop()


GROUP = Group(("P4",), run)

if __name__ == "__main__":
    main("bench/service_stream.py", __doc__ or "", [GROUP])
