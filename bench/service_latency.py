"""Benchmark: unary ScoreEntities latency and throughput against an echo RPC, same run.

    .venv/bin/python bench/service_latency.py [--only P3,P3c] [--quick] [--profile-server DIR]

The echo anchor is a raw-bytes unary method on the SAME server (see _service_common), so
it passes through the same interceptors. Figures (PERFORMANCE.md):
  P3   unary ScoreEntities, 1 entity, 1 client (inline_features 1 x n_signals of
       lead_qualification, and a stored entity): p50 vs echo unary p50 (<= 1.3x);
       p99 / p50 (<= 2x).
  P3c  RPS with 32 calls in flight (grpc.aio client, one process) vs echo (>= 0.75x).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, median, percentiles_ms
from _service_common import (
    ECHO_UNARY,
    Group,
    Run,
    ServerProcess,
    batches_of,
    ingest_once,
    main,
    make_events,
)

from prioscore.server.profiles import ProfileRegistry
from prioscore.v1 import scoring_service_pb2, scoring_service_pb2_grpc, types_pb2


def score_requests(n_signals: int) -> dict[str, scoring_service_pb2.ScoreEntitiesRequest]:
    x = np.random.default_rng(3).uniform(0, 4, size=(1, n_signals))
    inline = scoring_service_pb2.ScoreEntitiesRequest(
        profile="lead_qualification",
        inline_features=scoring_service_pb2.InlineFeatures(
            features=types_pb2.Matrix(
                dtype=types_pb2.DTYPE_FLOAT64, shape=list(x.shape), data=x.tobytes()
            ),
            entity_ids=["p3-inline"],
        ),
    )
    stored = scoring_service_pb2.ScoreEntitiesRequest(
        profile="lead_qualification",
        stored=scoring_service_pb2.StoredEntities(entity_ids=["p3-e0"]),
    )
    return {"inline": inline, "stored": stored}


def bench_p3(target: str, requests: dict[str, Any], rounds: int, per_round: int) -> None:
    channel = grpc.insecure_channel(target)
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    echo = channel.unary_unary(ECHO_UNARY)
    payload = requests["inline"].SerializeToString()
    calls: dict[str, Callable[[], object]] = {
        "echo": lambda: echo(payload, timeout=10),
        "inline": lambda: stub.ScoreEntities(requests["inline"], timeout=10),
        "stored": lambda: stub.ScoreEntities(requests["stored"], timeout=10),
    }
    assert calls["inline"]().scores[0].entity_id == "p3-inline"  # type: ignore[attr-defined]
    assert calls["stored"]().scores[0].entity_id == "p3-e0"  # type: ignore[attr-defined]
    for fn in calls.values():  # warm-up
        for _ in range(200):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in calls}
    perf = time.perf_counter
    for _ in range(rounds):  # interleaved rounds: drift hits every mode alike
        for name, fn in calls.items():
            out = samples[name]
            for _ in range(per_round):
                start = perf()
                fn()
                out.append(perf() - start)
    channel.close()
    e50, e99 = percentiles_ms(samples["echo"])
    for mode in ("inline", "stored"):
        s50, s99 = percentiles_ms(samples[mode])
        n = len(samples[mode])
        figure(
            f"P3  {mode} p50/echo",
            s50 / e50,
            1.3,
            False,
            f"score p50 {s50:.3f} ms vs echo p50 {e50:.3f} ms (n={n} each, 1 sync client)",
        )
        figure(
            f"P3  {mode} p99/p50",
            s99 / s50,
            2.0,
            False,
            f"score p99 {s99:.3f} ms / p50 {s50:.3f} ms; echo p99 {e99:.3f} ms "
            f"(echo p99/p50 {e99 / e50:.2f})",
        )


async def _rps(call: Callable[[], Any], inflight: int, seconds: float) -> tuple[float, int]:
    done = 0
    start = time.perf_counter()
    stop_at = start + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await call()
            done += 1

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(inflight))), seconds + 30)
    return done / (time.perf_counter() - start), done


async def _p3c(target: str, requests: dict[str, Any], rounds: int, seconds: float) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        echo = channel.unary_unary(ECHO_UNARY)
        payload = requests["inline"].SerializeToString()
        calls = {
            "echo": lambda: echo(payload, timeout=10),
            "inline": lambda: stub.ScoreEntities(requests["inline"], timeout=10),
            "stored": lambda: stub.ScoreEntities(requests["stored"], timeout=10),
        }
        for call in calls.values():
            await _rps(call, 32, 0.3)  # warm-up
        rates: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                rates[name].append((await _rps(call, 32, seconds))[0])
    echo_rps = median(rates["echo"])
    for mode in ("inline", "stored"):
        rps = median(rates[mode])
        figure(
            f"P3c {mode} RPS/echo",
            rps / echo_rps,
            0.75,
            True,
            f"score {rps:,.0f} RPS vs echo {echo_rps:,.0f} RPS at 32 in flight "
            f"(aio client, 1 process; medians of {rounds} x {seconds:g}s; "
            f"runs {', '.join(f'{r:,.0f}' for r in rates[mode])} / "
            f"echo {', '.join(f'{r:,.0f}' for r in rates['echo'])})",
        )


def run(ctx: Run) -> None:
    """P3 and P3c on one server seeded with the stored entity's events (p3-e0 .. e9)."""
    q = ctx.quick
    server = ServerProcess("rpc", ctx.profiles, ctx.workdir, ctx.profile_dir)
    try:
        seed_events = make_events(300, 10, "contact", "p3", seed=3)
        ingest_once(server.target, batches_of(seed_events, 300))
        # As many inline features as the profile has signals (it grows; never hard-code).
        profile = ProfileRegistry.from_directory(ctx.profiles).get("lead_qualification")
        assert profile is not None
        requests = score_requests(len(profile.signals))
        if "P3" in ctx.only:
            bench_p3(server.target, requests, 3 if q else 4, 200 if q else 500)
        if "P3C" in ctx.only:
            asyncio.run(_p3c(server.target, requests, 2 if q else 3, 1.0 if q else 1.5))
    finally:
        server.stop()


GROUP = Group(("P3", "P3c"), run)

if __name__ == "__main__":
    main("bench/service_latency.py", __doc__ or "", [GROUP])
