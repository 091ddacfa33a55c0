"""Benchmark: `prioscore batch` and the client's bulk path against the raw stream, one run.

    .venv/bin/python bench/batch.py [--rows 1000000] [--profile lead_qualification]
                                    [--repeats 3] [--quick]

One server process (bench/_service_common.py --serve: the real server plus a raw-bytes echo
stream on the same stack), the client here, so they never share a GIL. Same data for
every figure: ROWS x the profile's signals, float64, in chunks of 10k rows.

  raw stream     StreamScores driven directly: requests spliced per message, responses
                 parsed and viewed with np.frombuffer; no client library (the anchor)
  echo stream    the same request bytes to an echo method that answers with a response of
                 the StreamScores response's size: the transport alone
  score_matrix   PrioscoreClient.score_matrix on the in-memory matrix (window 4)
  batch parquet  the `prioscore batch` command in-process, Parquet in -> Parquet out
  batch csv      the same, CSV in -> CSV out (text parsing and formatting dominate)

Printed: rows/s of each, and the ratios batch/raw, score_matrix/raw, raw/echo.
Not a test: figures vary with the machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import info, median
from _service_common import ECHO_STREAM, PROFILES, ServerProcess

from prioscore.clients import PrioscoreClient
from prioscore.clients.arrays import encode_stream_request
from prioscore.clients.cli import main as cli_main
from prioscore.v1 import scoring_service_pb2

CHUNK = 10_000
STREAM_PATH = "/prioscore.v1.ScoringService/StreamScores"


async def _raw_stream(target: str, profile: str, x: np.ndarray, echo_size: int | None) -> float:
    """Seconds to stream x through StreamScores (echo_size None) or the echo method."""
    options = [("grpc.max_receive_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:

        async def requests() -> AsyncIterator[bytes]:
            for i, start in enumerate(range(0, x.shape[0], CHUNK)):
                yield encode_stream_request(profile, i, x[start : start + CHUNK])

        rows = 0
        started = time.perf_counter()
        if echo_size is None:
            method = channel.stream_stream(
                STREAM_PATH,
                request_serializer=None,
                response_deserializer=scoring_service_pb2.StreamScoresResponse.FromString,
            )
            async for response in method(requests(), timeout=600):
                rows += np.frombuffer(response.scores.data, "<f8").shape[0]
        else:
            method = channel.stream_stream(ECHO_STREAM)
            metadata = (("x-resp-size", str(echo_size)),)
            async for _ in method(requests(), metadata=metadata, timeout=600):
                rows += CHUNK
        elapsed = time.perf_counter() - started
    assert rows >= x.shape[0], rows
    return elapsed


def _response_size(client: PrioscoreClient, target: str, profile: str, x: np.ndarray) -> int:
    """Bytes of one StreamScores response for a CHUNK-row batch (what echo sends back)."""

    async def one() -> int:
        async with grpc.aio.insecure_channel(target) as channel:
            method = channel.stream_stream(
                STREAM_PATH,
                request_serializer=None,
                response_deserializer=scoring_service_pb2.StreamScoresResponse.FromString,
            )

            async def request() -> AsyncIterator[bytes]:
                yield encode_stream_request(profile, 0, x[:CHUNK])

            [response] = [r async for r in method(request(), timeout=60)]
            return response.ByteSize()

    return asyncio.run(one())


def _write_inputs(workdir: Path, names: list[str], x: np.ndarray) -> tuple[Path, Path]:
    ids = pa.array(np.char.add("e", np.arange(x.shape[0]).astype(str)).astype(object))
    table = pa.table({"id": ids, **{name: x[:, j] for j, name in enumerate(names)}})
    parquet, csv = workdir / "in.parquet", workdir / "in.csv"
    pq.write_table(table, parquet)
    pacsv.write_csv(table, csv)
    return parquet, csv


def _cli_batch(target: str, profile: str, source: Path, out: Path) -> float:
    """The `prioscore batch` command itself, in-process (same code path as the shell)."""
    args = ["--target", target, "batch", profile, str(source), str(out), "--quiet"]
    started = time.perf_counter()
    cli_main.main(args, standalone_mode=False)
    return time.perf_counter() - started


def _best_of(repeats: int, fn: Callable[[], float]) -> float:
    return median([fn() for _ in range(repeats)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--profile", default="lead_qualification")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200k rows, 1 repeat (smoke)")
    args = parser.parse_args()
    rows, repeats = (200_000, 1) if args.quick else (args.rows, args.repeats)
    workdir = Path(tempfile.mkdtemp(prefix="prioscore-bench-batch-"))
    server = ServerProcess("batch", PROFILES, workdir, None)
    try:
        with PrioscoreClient(server.target, timeout=60) as client:
            names = list(client.get_profile(args.profile).profile.signal_names)
            x = np.random.default_rng(5).gamma(1.3, 2.5, size=(rows, len(names)))
            print(
                f"bench/batch.py: {rows:,} rows x {len(names)} signals ({args.profile}), "
                f"chunks of {CHUNK:,}, median of {repeats}; server in its own process",
                flush=True,
            )
            parquet, csv = _write_inputs(workdir, names, x)
            echo_size = _response_size(client, server.target, args.profile, x)
            for warm in (None, echo_size):
                asyncio.run(_raw_stream(server.target, args.profile, x[: 20 * CHUNK], warm))
            client.score_matrix(args.profile, x[: 20 * CHUNK])

            seconds = {
                "raw stream": _best_of(
                    repeats, lambda: asyncio.run(_raw_stream(server.target, args.profile, x, None))
                ),
                "echo stream": _best_of(
                    repeats,
                    lambda: asyncio.run(_raw_stream(server.target, args.profile, x, echo_size)),
                ),
                "score_matrix": _best_of(
                    repeats,
                    lambda: _timed(lambda: client.score_matrix(args.profile, x)),
                ),
                "batch parquet": _best_of(
                    repeats,
                    lambda: _cli_batch(
                        server.target, args.profile, parquet, workdir / "out.parquet"
                    ),
                ),
                "batch csv": _best_of(
                    repeats,
                    lambda: _cli_batch(server.target, args.profile, csv, workdir / "out.csv"),
                ),
            }
            out_rows = pq.ParquetFile(workdir / "out.parquet").metadata.num_rows
            assert out_rows == rows, out_rows
        rate = {name: rows / s for name, s in seconds.items()}
        for name, r in rate.items():
            info(name, f"{r / 1e6:6.3f}M rows/s  ({seconds[name]:.2f}s)")
        raw = rate["raw stream"]
        for name in ("batch parquet", "batch csv", "score_matrix"):
            info(f"ratio {name}/raw", f"{rate[name] / raw:6.3f}x")
        info("ratio raw/echo", f"{raw / rate['echo stream']:6.3f}x")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
