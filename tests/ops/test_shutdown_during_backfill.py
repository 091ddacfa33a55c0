"""SIGTERM while StageProfile backfills a large population: the server gives the call
its grace period, then the backfill gives up at its next step (rolled back: nothing
staged) and the process exits 0 within the grace period, not after the population."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import grpc
import pytest

from prioscore.v1 import event_service_pb2_grpc, profile_service_pb2_grpc
from prioscore.v1 import profile_service_pb2 as pb
from tests.ops.conftest import PROFILES, ServerFactory, ingest_request, page_view

pytestmark = pytest.mark.slow

CONTACTS = 100_000  # ten backfill steps: longer than the grace period, even when fast
GRACE = 0.2
BACKFILLING = re.compile(r"staging lead_qualification v\d+: backfilling")
GAVE_UP = re.compile(r"staging \S+ did not finish after (\d+) entities")


def test_sigterm_during_a_stage_backfill_exits_within_the_grace_period(
    server_process: ServerFactory,
) -> None:
    server = server_process(None, "--grace-seconds", str(GRACE))
    events = [page_view(f"m{i}", f"c{i:06d}") for i in range(CONTACTS)]
    batches = (ingest_request(events[i : i + 5_000]) for i in range(0, CONTACTS, 5_000))
    with server.channel() as channel:
        event_service_pb2_grpc.EventServiceStub(channel).IngestEvents(batches, timeout=120)
    candidate = (Path(PROFILES) / "lead_qualification.toml").read_text()
    version = int(re.search(r"(?m)^version = (\d+)", candidate).group(1))  # type: ignore[union-attr]
    candidate = re.sub(r"(?m)^version = \d+", f"version = {version + 1}", candidate, count=1)

    def stage() -> grpc.StatusCode:
        with server.channel() as channel:
            stub = profile_service_pb2_grpc.ProfileServiceStub(channel)
            try:
                stub.StageProfile(pb.StageProfileRequest(toml=candidate), timeout=120)
            except grpc.RpcError as error:
                return error.code()
            return grpc.StatusCode.OK

    with ThreadPoolExecutor(1) as pool:
        staging = pool.submit(stage)
        deadline = time.monotonic() + 30
        while not BACKFILLING.search(server.log()):  # the backfill has begun
            assert time.monotonic() < deadline and not staging.done(), server.log()
            time.sleep(0.01)
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0
        code = staging.result(timeout=30)

    assert code != grpc.StatusCode.OK  # the stage did not finish ...
    gave_up = GAVE_UP.search(server.log())  # ... because the backfill gave up ...
    assert gave_up, server.log()
    # ... at its next step once the grace period was over, not after the population
    # (what this asserts instead of a wall-clock bound on the exit).
    assert int(gave_up.group(1)) < CONTACTS, server.log()
    with closing(sqlite3.connect(f"file:{server.db}?mode=ro", uri=True)) as conn:
        staged = conn.execute("SELECT COUNT(*) FROM shadow_profiles").fetchone()[0]
        rows = conn.execute(
            "SELECT COUNT(*) FROM scores WHERE profile = 'lead_qualification@shadow'"
        ).fetchone()[0]
    assert (staged, rows) == (0, 0)  # rolled back whole
