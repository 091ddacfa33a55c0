"""Benchmark: stored ScoreEntities and health checks while heavy work runs (S2).

    .venv/bin/python bench/service_heavy.py [--quick] [--kinds K,...] [--profile-server DIR]

One server (its own process, 127.0.0.1:0) over a store prefilled with raw executemany
(bench/_population.py: 200k contacts of 400k entities, ten events each; --quick 20k
contacts), started once its clock's catch-up sweep is written. Two open-loop probers run
through the whole bench: a stored ScoreEntities of one contact every 20 ms, and a
grpc.health.v1 Check every 100 ms with a 1 s deadline. Open loop: a call is fired at
every tick whether or not the previous one answered, so a stall shows as every call it
delayed, not as one slow sample.

The anchor is the probe's p99 over idle windows of the same run (one before each heavy
kind, pooled). Each heavy kind then runs (repeated back to back until its window is at
least WINDOW seconds, except promote, which runs once) and the probes fired during it
are its sample:
  stage      StageProfile: a new lead_qualification version, backfilled over every contact
  compare    CompareProfiles: lead_qualification vs its staged shadow over every contact
  promote    PromoteProfile: the shadow's scores become the profile's (one transaction)
  calibrate  Calibrate: lead_qualification on 10% of the contacts as outcomes
  backtest   Backtest: the same outcomes
  ingest     one IngestEvents stream of 30 x 10k events to stored contacts (--quick 10 x)
  inline     ScoreEntities over 10k inline events (2k entities), back to back

`--kinds stage,promote` runs only those kinds (in the order above; promote without
stage stages the shadow first, outside every window): a full-size run of all of them
takes several minutes.

S2    p99 during / idle p99, per kind; <= 3x
S2h   health checks that missed their 1 s deadline (or failed), all kinds; 0

Heavy requests are serialised before their window and sent as raw bytes on their own
channel, so the bench's own process does no protobuf work while it times the probes.
The profiles are the bundled ones with [scoring] refresh = "1d": the clock's own sweeps
(not one of S2's kinds) stay out of every window.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _population
from _common import figure, info, percentiles_ms
from _service_common import Group, Run, ServerProcess, main, make_events

from prioscore.v1 import (
    event_service_pb2,
    profile_service_pb2,
    scoring_service_pb2,
    scoring_service_pb2_grpc,
    types_pb2,
)

PROFILE = "lead_qualification"
PROBE_EVERY = 0.020
HEALTH_EVERY = 0.100
HEALTH_DEADLINE = 1.0
TARGET = 3.0
# Separate connections: a heavy call's bytes never queue in front of a probe's.
OPTIONS = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", -1)]
P = "/prioscore.v1.ProfileService/"
KINDS = ("stage", "compare", "promote", "calibrate", "backtest", "ingest", "inline")


@dataclass
class Probes:
    """The two open-loop probers: (start, seconds) of every scoring call, (start, ok) of
    every health check. Times are time.perf_counter()."""

    target: str
    scores: list[tuple[float, float]] = field(default_factory=list)
    health: list[tuple[float, bool]] = field(default_factory=list)
    failures: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        request = scoring_service_pb2.ScoreEntitiesRequest(
            profile=PROFILE, stored=scoring_service_pb2.StoredEntities(entity_ids=["con-7"])
        )
        check = health_pb2.HealthCheckRequest(service="")
        async with (
            grpc.aio.insecure_channel(self.target, options=OPTIONS) as scoring,
            grpc.aio.insecure_channel(self.target, options=OPTIONS) as health,
        ):
            stub = scoring_service_pb2_grpc.ScoringServiceStub(scoring)
            hstub = health_pb2_grpc.HealthStub(health)
            await stub.ScoreEntities(request, timeout=30)  # warm: connection, caches

            async def score_once() -> None:
                start = time.perf_counter()
                try:
                    await stub.ScoreEntities(request, timeout=60)
                except grpc.aio.AioRpcError:
                    self.failures += 1
                self.scores.append((start, time.perf_counter() - start))

            async def check_once() -> None:
                start = time.perf_counter()
                try:
                    reply = await hstub.Check(check, timeout=HEALTH_DEADLINE)
                    ok = reply.status == health_pb2.HealthCheckResponse.SERVING
                except grpc.aio.AioRpcError:
                    ok = False
                self.health.append((start, ok))

            await asyncio.gather(
                self._tick(PROBE_EVERY, score_once), self._tick(HEALTH_EVERY, check_once)
            )
            await asyncio.gather(*self._tasks)

    async def _tick(self, every: float, call: Callable[[], Awaitable[None]]) -> None:
        """Fires `call` at every tick of `every` seconds (skipping none when late)."""
        due = time.perf_counter()
        while not self._stop.is_set():
            task = asyncio.create_task(call())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            due += every
            await asyncio.sleep(max(0.0, due - time.perf_counter()))

    def stop(self) -> None:
        self._stop.set()

    def window(self, start: float, end: float) -> tuple[np.ndarray, int, int]:
        """Latencies (s) of the scoring calls fired in [start, end], and the health
        checks fired then: (latencies, checks, missed)."""
        lat = np.array([s for t, s in self.scores if start <= t <= end], dtype=np.float64)
        checks = [ok for t, ok in self.health if start <= t <= end]
        return lat, len(checks), checks.count(False)


def raw_unary(channel: grpc.aio.Channel, method: str) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(method)  # bytes in, bytes out: no (de)serialisation here


def candidate_toml(profiles: Path) -> str:
    """lead_qualification one version up, its hot-page weight changed: tiers move."""
    text = (profiles / f"{PROFILE}.toml").read_text()
    version = int(re.search(r"(?m)^version = (\d+)", text).group(1))  # type: ignore[union-attr]
    text = re.sub(r"(?m)^version = \d+", f"version = {version + 1}", text, count=1)
    return re.sub(r"(?m)^weight = 8$", "weight = 12", text, count=1)


def outcomes(n_contacts: int, now: float) -> list[types_pb2.Outcome]:
    n = max(200, n_contacts // 10)
    rng = np.random.default_rng(5)
    ids = rng.choice(n_contacts, size=n, replace=False)
    labels = rng.random(n) < 0.2
    ages = rng.uniform(0, 30, n) * _population.DAY
    out = []
    for i in range(n):
        o = types_pb2.Outcome(entity_id=f"con-{ids[i]}", label=bool(labels[i]))
        o.outcome_time.FromNanoseconds(int((now - ages[i]) * 1e9))
        out.append(o)
    return out


def ingest_stream(n_contacts: int, batches: int) -> list[bytes]:
    events = make_events(batches * 10_000, n_contacts, "contact", "s2i", seed=9, ts_now=True)
    for e in events:  # to the stored contacts (make_events names them "con-e<i>")
        e.entity_id = e.entity_id.replace("con-e", "con-", 1)
    return [
        event_service_pb2.IngestEventsRequest(events=events[i : i + 10_000]).SerializeToString()
        for i in range(0, len(events), 10_000)
    ]


def inline_request() -> bytes:
    events = make_events(10_000, 2_000, "contact", "s2x", seed=11)
    return scoring_service_pb2.ScoreEntitiesRequest(
        profile=PROFILE, inline_events=scoring_service_pb2.InlineEvents(events=events)
    ).SerializeToString()


def prepare_profiles(ctx: Run) -> Path:
    """The bundled profiles with the clock's refresh at one day (see the docstring)."""
    profiles = ctx.workdir / "profiles-s2"
    shutil.copytree(ctx.profiles, profiles)
    (profiles / "bench32.toml").unlink()
    for path in profiles.glob("*.toml"):
        text = path.read_text()
        path.write_text(re.sub(r"(?m)^\[scoring\]$", '[scoring]\nrefresh = "1d"', text, count=1))
    return profiles


async def measure(
    ctx: Run, target: str, profiles: Path, n_contacts: int, asked: frozenset[str]
) -> None:
    q = ctx.quick
    idle_s, window = (3.0, 3.0) if q else (5.0, 5.0)
    now = time.time()
    stage = profile_service_pb2.StageProfileRequest(
        toml=candidate_toml(profiles)
    ).SerializeToString()
    compare = profile_service_pb2.CompareProfilesRequest(
        profile=PROFILE, candidate_shadow=True
    ).SerializeToString()
    promote = profile_service_pb2.PromoteProfileRequest(name=PROFILE).SerializeToString()
    outs = outcomes(n_contacts, now)
    calibrate = profile_service_pb2.CalibrateRequest(
        profile=PROFILE, outcomes=outs, horizon_days=7
    ).SerializeToString()
    backtest = profile_service_pb2.BacktestRequest(
        profile=PROFILE, outcomes=outs, horizon_days=7
    ).SerializeToString()
    stream = ingest_stream(n_contacts, 10 if q else 30)
    inline = inline_request()

    probes = Probes(target)
    running = asyncio.create_task(probes.run())
    idle: list[tuple[float, float]] = []
    kinds: list[tuple[str, float, float, int]] = []  # name, start, end, calls
    async with grpc.aio.insecure_channel(target, options=OPTIONS) as heavy:
        ingest = heavy.stream_unary("/prioscore.v1.EventService/IngestEvents")
        score = raw_unary(heavy, "/prioscore.v1.ScoringService/ScoreEntities")
        jobs: list[tuple[str, Callable[[], Awaitable[object]], bool]] = [
            ("stage", lambda: raw_unary(heavy, P + "StageProfile")(stage, timeout=300), True),
            (
                "compare",
                lambda: raw_unary(heavy, P + "CompareProfiles")(compare, timeout=300),
                True,
            ),
            (
                "promote",
                lambda: raw_unary(heavy, P + "PromoteProfile")(promote, timeout=300),
                False,
            ),
            ("calibrate", lambda: raw_unary(heavy, P + "Calibrate")(calibrate, timeout=300), True),
            ("backtest", lambda: raw_unary(heavy, P + "Backtest")(backtest, timeout=300), True),
            ("ingest", lambda: ingest(iter(stream), timeout=300), False),
            ("inline", lambda: score(inline, timeout=300), True),
        ]
        if "promote" in asked and "stage" not in asked:  # promote needs a shadow
            await jobs[0][1]()
        await asyncio.sleep(1.0)  # the probers' first calls are not a sample
        jobs = [job for job in jobs if job[0] in asked]
        for name, job, repeat in jobs:
            began = time.perf_counter()
            await asyncio.sleep(idle_s)
            idle.append((began, time.perf_counter()))
            start = time.perf_counter()
            calls = 0
            while True:
                await job()
                calls += 1
                if not repeat or time.perf_counter() - start >= window:
                    break
            kinds.append((name, start, time.perf_counter(), calls))
        await asyncio.sleep(1.5)  # probes fired in the last window answer
    probes.stop()
    await running
    report(probes, idle, kinds, q)


def report(
    probes: Probes,
    idle: list[tuple[float, float]],
    kinds: list[tuple[str, float, float, int]],
    quick: bool,
) -> None:
    idle_lat = np.concatenate([probes.window(a, b)[0] for a, b in idle])
    idle_checks = sum(probes.window(a, b)[1] for a, b in idle)
    idle_missed = sum(probes.window(a, b)[2] for a, b in idle)
    i50, i99 = percentiles_ms(idle_lat)
    misses = []
    for name, start, end, calls in kinds:
        lat, checks, missed = probes.window(start, end)
        p50, p99 = percentiles_ms(lat)
        misses.append((name, missed, checks))
        figure(
            f"S2  {name} p99/idle",
            p99 / i99,
            TARGET,
            False,
            f"p99 {p99:.1f} ms (p50 {p50:.1f}, max {lat.max() * 1e3:.0f}, n={lat.size}) vs idle"
            f" p99 {i99:.2f} ms (p50 {i50:.2f}, n={idle_lat.size}); {calls} call(s) in"
            f" {end - start:.1f}s; health missed {missed}/{checks}",
        )
    total = sum(m for _, m, _ in misses)
    figure(
        "S2h health misses",
        float(total),
        0,
        False,
        ", ".join(f"{n} {m}/{c}" for n, m, c in misses)
        + f"; idle {idle_missed}/{idle_checks} (1 s deadline, every 100 ms)",
        unit="",
    )
    if probes.failures:
        info("    probe failures", f"{probes.failures} scoring calls failed")


def run(ctx: Run) -> None:
    kinds = KINDS_ASKED
    n_contacts = 20_000 if ctx.quick else 200_000
    profiles = prepare_profiles(ctx)
    db = ctx.workdir / "heavy.db"
    _population.NOW = time.time()  # events up to now: the server's clock is the wall's
    started = time.perf_counter()
    _population.build_store(db, 2 * n_contacts, 20 * n_contacts, seed=2)
    built = time.perf_counter() - started
    server = ServerProcess(
        "heavy", profiles, ctx.workdir, ctx.profile_dir, settle=True, start_timeout=400
    )
    swept = time.perf_counter() - started - built
    info(
        "S2  population",
        f"{2 * n_contacts:,} entities ({n_contacts:,} contacts), {20 * n_contacts:,} events:"
        f" built in {built:.0f}s, served and swept after {swept:.0f}s",
    )
    try:
        asyncio.run(measure(ctx, server.target, profiles, n_contacts, kinds))
    finally:
        server.stop()


def take_kinds() -> frozenset[str]:
    """--kinds, taken out of sys.argv before the shared command line reads the rest."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args, sys.argv[1:] = parser.parse_known_args()
    kinds = frozenset(k.strip() for k in args.kinds.split(",") if k.strip())
    if kinds - set(KINDS):
        parser.error(f"unknown kind(s) {sorted(kinds - set(KINDS))}; kinds are {', '.join(KINDS)}")
    return kinds


GROUP = Group(("S2",), run)
KINDS_ASKED = frozenset(KINDS)

if __name__ == "__main__":
    KINDS_ASKED = take_kinds()
    main("bench/service_heavy.py", __doc__ or "", [GROUP])
