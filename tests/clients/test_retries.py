"""Retry and deadline policy, against scripted fakes that fail like networks do."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import numpy as np
import pytest

from prioscore.clients import (
    AsyncPrioscoreClient,
    InvalidArgumentError,
    PrioscoreClient,
    UnavailableError,
    events,
)
from prioscore.clients.retry import RetryPolicy
from tests.clients.conftest import FAST_RETRY
from tests.clients.fakes import FakeServer, Script
from tests.conftest import ServerHandle


def test_reads_retry_on_unavailable(fake_client: PrioscoreClient, script: Script) -> None:
    script.fail_first = 2
    [score] = fake_client.score_entities("p", ["e1"])
    assert score.entity_id == "e1"
    assert script.calls["ScoreEntities"] == 3


def test_reads_give_up_after_the_policy_attempts(
    fake_client: PrioscoreClient, script: Script
) -> None:
    script.fail_first = 99
    with pytest.raises(UnavailableError):
        fake_client.score_entities("p", ["e1"])
    assert script.calls["ScoreEntities"] == FAST_RETRY.attempts


def test_upsert_is_never_retried(fake_client: PrioscoreClient, script: Script) -> None:
    with pytest.raises(UnavailableError):
        fake_client.upsert_entities([])
    assert script.calls["UpsertEntities"] == 1


def test_ingest_replays_a_lost_stream_and_dedupe_absorbs_it(
    fake_client: PrioscoreClient, script: Script
) -> None:
    script.ingest_fail_streams = 1  # the first stream stores everything, then fails
    batch = [events.track("e1", "login", time=1_700_000_000 + i) for i in range(10)]
    summary = fake_client.ingest(batch, batch_size=3)
    assert script.calls["IngestEvents"] == 2
    assert summary.replayed_batches == 4  # 10 events in batches of 3
    assert (summary.accepted, summary.duplicates) == (0, 10)  # stored by the lost stream
    assert len(script.stored) == 10


def test_ingest_uses_bounded_streams(fake_client: PrioscoreClient, script: Script) -> None:
    batch = [events.track("e1", "login", time=1_700_000_000 + i) for i in range(25)]
    summary = fake_client.ingest(batch, batch_size=2, batches_per_stream=4)
    assert summary.streams == 4 and script.calls["IngestEvents"] == 4  # 13 batches / 4
    assert summary.accepted == 25


def test_erase_after_a_lost_answer_reports_it_rather_than_failing(
    fake_client: PrioscoreClient, script: Script
) -> None:
    script.erase_lost_first = True
    result = fake_client.erase_entity("e1")
    assert result.after_retry and result.events_removed == 0
    assert script.calls["EraseEntity"] == 2


def test_stream_scores_resends_only_unanswered_batches(
    fake_client: PrioscoreClient, script: Script
) -> None:
    script.stream_fail_after = 3  # the first stream answers 3 batches, then dies
    features = np.arange(60, dtype=np.float64).reshape(20, 3)
    result = fake_client.score_matrix("p", features, chunk_rows=2, window=4)
    np.testing.assert_allclose(result.scores, features.sum(axis=1))
    first, second = script.sequences
    assert first[:3] == [1, 2, 3]
    assert second[0] == 4 and second == list(range(4, 11))  # resumed at the first unanswered


def test_a_rejected_batch_reports_the_servers_own_status(
    fake_client: PrioscoreClient, script: Script
) -> None:
    """With many batches in flight, gRPC can mask the rejection as INTERNAL; the client
    must still surface INVALID_ARGUMENT and the field (it re-sends one batch at a time)."""
    script.reject_sequence = 30
    features = np.ones((400, 3))
    for _ in range(8):  # the masking is a race: try it a few times
        with pytest.raises(InvalidArgumentError) as caught:
            fake_client.score_matrix("p", features, chunk_rows=5, window=8)
        assert [v.field for v in caught.value.violations] == ["batch 30.features"]


def test_a_rejected_ingest_batch_reports_the_servers_own_status(
    fake_client: PrioscoreClient, script: Script
) -> None:
    batch = [events.track("e1", "login", message_id=f"m{i}") for i in range(3_000)]
    script.reject_message = "m2500"
    for _ in range(5):
        with pytest.raises(InvalidArgumentError) as caught:
            fake_client.ingest(batch, batch_size=10, batches_per_stream=100)
        assert [v.field for v in caught.value.violations] == ["events[0].message_id"]


def test_every_call_carries_a_deadline(fake: FakeServer, script: Script) -> None:
    with PrioscoreClient(fake.target, timeout=7, stream_timeout=70) as c:
        c.score_entities("p", ["e1"])
        c.ingest([events.track("e1", "login", time=1)])
        c.score_matrix("p", np.ones((4, 2)))
    assert 0 < script.deadlines["ScoreEntities"][0] <= 7.5  # clocks differ by a hair
    assert 7.5 < script.deadlines["IngestEvents"][0] <= 70.5
    assert 7.5 < script.deadlines["StreamScores"][0] <= 70.5


class _Recorder(grpc.aio.UnaryUnaryClientInterceptor):
    """Records the timeout and metadata of every unary call."""

    def __init__(self, seen: list[tuple[str, float | None, dict[str, str]]]) -> None:
        self.seen = seen

    def note(self, details: Any) -> None:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        self.seen.append((method, details.timeout, dict(details.metadata or ())))

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.note(details)
        return await continuation(details, request)


class _StreamRecorder(grpc.aio.UnaryStreamClientInterceptor):
    """The same for server-streaming calls (grpc.aio files an interceptor under one kind)."""

    def __init__(self, unary: _Recorder) -> None:
        self.unary = unary

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        self.unary.note(details)
        return await continuation(details, request)


def test_deadline_and_token_on_every_unary_call_to_the_real_server(
    grpc_server: ServerHandle,
) -> None:
    recorder = _Recorder([])

    async def run() -> None:
        channel = grpc.aio.insecure_channel(
            grpc_server.target, interceptors=[recorder, _StreamRecorder(recorder)]
        )
        api = AsyncPrioscoreClient(
            channel=channel, timeout=9, token="t0k", retry=RetryPolicy(attempts=1)
        )
        await api.list_profiles()
        await api.get_profile("churn_risk")
        await api.rank_page("churn_risk")
        await api.validate_profile("")
        await api.reload_profiles()
        async for _ in api.watch(duration=0.2):
            pass
        await channel.close()

    asyncio.run(run())
    methods = {m.rsplit("/", 1)[1] for m, _, _ in recorder.seen}
    assert {"ListProfiles", "GetProfile", "RankEntities", "WatchTierChanges"} <= methods
    for method, timeout, metadata in recorder.seen:
        assert timeout is not None and 0 < timeout <= 9, method
        assert metadata.get("authorization") == "Bearer t0k", method
