"""SIGTERM drains: calls in flight finish OK, new calls are refused, the process exits 0
and the database holds whole batches only."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prioscore.server.profiles import ProfileRegistry
from prioscore.v1 import event_service_pb2_grpc, scoring_service_pb2_grpc, types_pb2
from prioscore.v1 import scoring_service_pb2 as sc
from tests.ops.conftest import (
    PROFILES,
    ServerFactory,
    batch_of,
    event_rows,
    ingest_request,
    stored_message_ids,
)

pytestmark = pytest.mark.slow

BATCHES, BATCH_SIZE = 6, 40
STREAM_BATCHES, ROWS = 6, 2_000


def _matrix(rows: int) -> types_pb2.Matrix:
    lead = ProfileRegistry.from_directory(PROFILES).get("lead_qualification")
    assert lead is not None
    data = np.random.default_rng(7).uniform(0, 5, (rows, len(lead.signals)))
    return types_pb2.Matrix(
        dtype=types_pb2.DTYPE_FLOAT64, shape=list(data.shape), data=data.tobytes()
    )


def test_sigterm_lets_in_flight_calls_finish_and_refuses_new_ones(
    server_process: ServerFactory,
) -> None:
    server = server_process(None, "--grace-seconds", "20")
    term_sent = threading.Event()
    started = threading.Barrier(3, timeout=30)

    def slow_ingest() -> Iterator:
        """One batch, then (after SIGTERM) the rest of the stream, slowly."""
        yield ingest_request(batch_of(0, BATCH_SIZE))
        started.wait()
        assert term_sent.wait(30)
        for batch in range(1, BATCHES):
            time.sleep(0.15)
            yield ingest_request(batch_of(batch, BATCH_SIZE))

    matrix = _matrix(ROWS)

    def slow_scores() -> Iterator:
        yield sc.StreamScoresRequest(profile="lead_qualification", sequence=0, features=matrix)
        started.wait()
        assert term_sent.wait(30)
        for sequence in range(1, STREAM_BATCHES):
            time.sleep(0.15)
            yield sc.StreamScoresRequest(
                profile="lead_qualification", sequence=sequence, features=matrix
            )

    with server.channel() as channel, ThreadPoolExecutor(2) as pool:
        events = event_service_pb2_grpc.EventServiceStub(channel)
        scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        ingest_call = pool.submit(events.IngestEvents, slow_ingest(), timeout=60)
        stream_call = pool.submit(
            lambda: [r.sequence for r in scoring.StreamScores(slow_scores(), timeout=60)]
        )
        started.wait()
        deadline = time.monotonic() + 10  # the first batch is in: the call is in flight
        while len(stored_message_ids(server.db)) < BATCH_SIZE and time.monotonic() < deadline:
            time.sleep(0.02)

        server.signal(signal.SIGTERM)
        _wait_for_drain(server.target)
        term_sent.set()

        # New calls are refused, on a fresh channel and on the one in use.
        for probe in (channel, grpc.insecure_channel(server.target)):
            with pytest.raises(grpc.RpcError) as caught:
                scoring_service_pb2_grpc.ScoringServiceStub(probe).RankEntities(
                    sc.RankEntitiesRequest(profile="lead_qualification"), timeout=5
                )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

        reply = ingest_call.result(timeout=60)
        sequences = stream_call.result(timeout=60)
    assert reply.accepted == BATCHES * BATCH_SIZE
    assert sequences == list(range(STREAM_BATCHES))
    assert server.wait(timeout=30) == 0, server.log()
    assert "draining" in server.log()

    stored = stored_message_ids(server.db)
    assert set(stored.values()) == {1}
    assert event_rows(server.db) == BATCHES * BATCH_SIZE
    for batch in range(BATCHES):
        assert all(e.message_id in stored for e in batch_of(batch, BATCH_SIZE))


def _wait_for_drain(target: str) -> None:
    """Until health stops answering SERVING (the drain has begun)."""
    deadline = time.monotonic() + 10
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status != health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the server kept SERVING after SIGTERM")
    time.sleep(0.2)  # health flips just before server.stop() begins refusing calls
