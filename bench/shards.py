"""Benchmark: the online service sharded on loopback, each shard a server process with
its own SQLite file, events routed by client-side hashing (docs/SCALING.md).

    .venv/bin/python bench/shards.py [--events 40000] [--entities 10000] [--shards 2]

Figures, each against the single server of the same run (the anchor):
  ingest   events/s of N shards ingesting their share in parallel (one stream each) /
           one server ingesting everything
  rank     top-100 merged from every shard's top-100 (scatter-gather) / one server's
           top-100: p50 latency ratio, and whether the two rankings are identical
Routing is crc32(routing key) % N; the routing key is the entity here (no accounts in
this data); with accounts it would be the account, so rollups stay on one shard.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _service_common import PROFILES, ServerProcess, batches_of, ingest_once, make_events

from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import scoring_service_pb2_grpc as sc_grpc
from prioscore.v1 import types_pb2

PROFILE = "lead_qualification"
TOP = 100


def shard_of(entity_id: str, shards: int) -> int:
    return zlib.crc32(entity_id.encode()) % shards


def ingest_parallel(
    servers: list[ServerProcess], parts: list[list[types_pb2.Event]], batch: int
) -> float:
    """Wall seconds until every shard has ingested its part (one stream per shard)."""
    done: list[float] = []

    def run(server: ServerProcess, events: list[types_pb2.Event]) -> None:
        seconds, _ = ingest_once(server.target, batches_of(events, batch))
        done.append(seconds)

    threads = [
        threading.Thread(target=run, args=(s, p)) for s, p in zip(servers, parts, strict=True)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(done) == len(servers)
    return time.perf_counter() - start


def top(stub: sc_grpc.ScoringServiceStub) -> list[tuple[float, str]]:
    page = stub.RankEntities(sc.RankEntitiesRequest(profile=PROFILE, page_size=TOP), timeout=30)
    return [(s.score, s.entity_id) for s in page.scores]


def merged_top(stubs: list[sc_grpc.ScoringServiceStub]) -> list[tuple[float, str]]:
    """Scatter-gather: each shard's top-100, merged by score then id, as the one server
    orders them (descending score, ascending id on ties)."""
    rows = [row for stub in stubs for row in top(stub)]
    return sorted(rows, key=lambda r: (-r[0], r[1]))[:TOP]


def p50(fn: Callable[[], object], repeats: int = 30) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2_000)
    args = parser.parse_args()
    events = make_events(args.events, args.entities, "contact", "m", seed=4)
    parts: list[list[types_pb2.Event]] = [[] for _ in range(args.shards)]
    for event in events:  # routing, as a client library would do it
        parts[shard_of(event.entity_id, args.shards)].append(event)
    workdir = Path(tempfile.mkdtemp(prefix="prioscore-shards-"))
    servers: list[ServerProcess] = []
    try:
        profiles = workdir / "profiles"
        shutil.copytree(PROFILES, profiles)
        single = ServerProcess("single", profiles, workdir, None)
        servers.append(single)
        shards = [ServerProcess(f"shard{k}", profiles, workdir, None) for k in range(args.shards)]
        servers += shards
        one = ingest_parallel([single], [events], args.batch)
        many = ingest_parallel(shards, parts, args.batch)
        print(
            f"ingest  ratio {one / many:5.2f}x  {args.shards} shards "
            f"{args.events / many:8,.0f} ev/s"
            f"  vs one server {args.events / one:8,.0f} ev/s (anchor)  "
            f"({args.events:,} events, {args.entities:,} entities, shares "
            f"{', '.join(str(len(p)) for p in parts)})",
            flush=True,
        )
        channels = [grpc.insecure_channel(s.target) for s in servers]
        stubs = [sc_grpc.ScoringServiceStub(c) for c in channels]
        # The servers scored at their own ingest times (real clocks, seconds apart), so
        # scores differ in the last digits: compare who is in the top-100, in order.
        merged_ids = [entity for _, entity in merged_top(stubs[1:])]
        alone_ids = [entity for _, entity in top(stubs[0])]
        same_order = merged_ids == alone_ids
        overlap = len(set(merged_ids) & set(alone_ids))
        alone = p50(lambda: top(stubs[0]))
        gathered = p50(lambda: merged_top(stubs[1:]))
        print(
            f"rank    ratio {gathered / alone:5.2f}x  merged top-{TOP} p50 {gathered * 1e3:6.2f} ms"
            f"  vs one server {alone * 1e3:6.2f} ms (anchor); same entities {overlap}/{TOP},"
            f" same order: {same_order}"
        )
        for channel in channels:
            channel.close()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
