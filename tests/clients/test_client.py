"""The client library against the real server: typed results, rich errors, auth, watch."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import grpc
import pytest

from prioscore.clients import (
    AsyncPrioscoreClient,
    InvalidArgumentError,
    NotFoundError,
    PrioscoreClient,
    PrioscoreClientError,
    UnauthenticatedError,
    UnavailableError,
    events,
)
from prioscore.clients.retry import RetryPolicy
from prioscore.v1 import types_pb2
from tests.conftest import ServerHandle

HOUR = 3600.0


def lead_events(entity_id: str, *, hot: bool) -> list[types_pb2.Event]:
    """A contact: vp at a 300-person company; hot ones visit pricing and ask for a demo."""
    now = time.time()
    found = [
        events.identify(
            entity_id,
            traits={"seniority": "vp", "industry": "software"},
            numeric_traits={"employees": 300},
            entity_kind="contact",
        )
    ]
    pages = ["/pricing", "/pricing/enterprise", "/demo"] if hot else ["/blog/x"]
    for i, url in enumerate(pages):
        found.append(
            events.track(
                entity_id,
                "page_view",
                time=now - (i + 1) * HOUR,
                properties={"url": url},
                metrics={"clicks": 4},
                value=90,
                entity_kind="contact",
            )
        )
    if hot:
        found.append(
            events.track(
                entity_id,
                "form_submit",
                time=now - HOUR,
                properties={"form": "demo_request"},
                entity_kind="contact",
            )
        )
    return found


def test_profiles_are_typed_messages(client: PrioscoreClient) -> None:
    names = [p.name for p in client.list_profiles()]
    assert names == sorted(names) and "lead_qualification" in names
    profile = client.get_profile("lead_qualification")
    assert profile.profile.entity == "contact"
    assert [s.name for s in profile.signals] == list(profile.profile.signal_names)
    assert client.validate_profile(profile.toml, "copy.toml").valid
    broken = client.validate_profile("[profile]\nname = 1\n", "bad.toml")
    assert not broken.valid and all(i.file == "bad.toml" for i in broken.issues)


def test_ingest_score_rank_history_round_trip(client: PrioscoreClient) -> None:
    batch = lead_events("hot-1", hot=True) + lead_events("cold-1", hot=False)
    first = client.ingest(batch, batch_size=2)
    assert (first.accepted, first.duplicates, first.events_sent) == (len(batch), 0, len(batch))
    again = client.ingest(batch)  # same content -> same derived message ids -> deduped
    assert (again.accepted, again.duplicates) == (0, len(batch))

    hot, cold = client.score_entities(
        "lead_qualification", ["hot-1", "cold-1"], explain=True, top_reasons=3
    )
    assert hot.score > cold.score
    assert len(hot.contributions) == len(client.get_profile("lead_qualification").signals) + 3
    assert len(hot.top_reasons) == 3

    ranked = list(client.rank("lead_qualification", limit=10))
    assert [s.entity_id for s in ranked] == ["hot-1", "cold-1"]
    assert ranked[0].top_reasons  # the "why" travels with the ranking
    page = client.rank_page("lead_qualification", page_size=1)
    assert page.total_size == 2 and page.next_page_token and len(page.items) == 1

    points = client.history("hot-1", "lead_qualification")
    assert points and points[0].score == pytest.approx(ranked[0].score)


def test_rank_iterates_across_pages(client: PrioscoreClient) -> None:
    batch = [e for i in range(12) for e in lead_events(f"c{i:02d}", hot=i % 3 == 0)]
    client.ingest(batch)
    ranked = list(client.rank("lead_qualification", page_size=5))
    assert len(ranked) == 12
    scores = [s.score for s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert len(list(client.rank("lead_qualification", limit=7, page_size=5))) == 7


def test_errors_carry_code_and_decoded_field_violations(client: PrioscoreClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.score_entities("no_such_profile", ["x"])
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    assert "no_such_profile" in missing.value.resource
    assert missing.value.method == "ScoreEntities"

    bad = events.make_event("track", "c1", event="page_view")
    bad.entity_id = ""
    with pytest.raises(InvalidArgumentError) as invalid:
        client.ingest([bad])
    fields = [v.field for v in invalid.value.violations]
    assert fields and fields[0].endswith("events[0].entity_id")
    assert isinstance(invalid.value, PrioscoreClientError)
    assert any("entity_id" in line for line in invalid.value.describe())

    with pytest.raises(InvalidArgumentError) as tiers:
        client.rank_page("lead_qualification", tiers=["lukewarm"])
    assert [v.field for v in tiers.value.violations] == ["tiers"]


def test_unreachable_server_is_unavailable_after_retries() -> None:
    policy = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02)
    with PrioscoreClient("127.0.0.1:1", timeout=2, retry=policy) as dead:
        started = time.monotonic()
        with pytest.raises(UnavailableError):
            dead.list_profiles()
        assert time.monotonic() - started < 10


def test_bearer_token_is_sent(start_grpc_server: object, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[[tokens]]\nname = "t"\ntoken = "s3cret"\nscopes = ["score:read"]\n')
    handle = start_grpc_server(tokens_file=tokens)  # type: ignore[operator]
    with (
        PrioscoreClient(handle.target, timeout=10) as anonymous,
        pytest.raises(UnauthenticatedError),
    ):
        anonymous.list_profiles()
    with PrioscoreClient(handle.target, timeout=10, token="s3cret") as authorised:
        assert authorised.list_profiles()


def test_watch_sees_the_tier_change_an_ingest_causes(
    client: PrioscoreClient, grpc_server: ServerHandle
) -> None:
    client.ingest(lead_events("w-1", hot=False))
    changes: list[types_pb2.TierChange] = []

    def watch() -> None:
        for change in client.watch(profile="lead_qualification", duration=20):
            changes.append(change)
            return

    watcher = threading.Thread(target=watch)
    watcher.start()
    deadline = time.monotonic() + 10
    while grpc_server.call(lambda: grpc_server.service.hub.watcher_count) < 1:
        assert time.monotonic() < deadline, "the watch never subscribed"
        time.sleep(0.02)
    hot = lead_events("w-1", hot=True)
    client.ingest(hot)
    watcher.join(timeout=20)
    assert not watcher.is_alive()
    [change] = changes
    assert change.entity_id == "w-1" and change.profile == "lead_qualification"
    assert change.previous_tier != change.tier
    assert change.cause_message_id in {e.message_id for e in hot}


def test_watch_with_a_duration_ends_quietly(client: PrioscoreClient) -> None:
    started = time.monotonic()
    assert list(client.watch(profile="churn_risk", duration=0.3)) == []
    assert time.monotonic() - started < 10


def test_async_client_on_an_injected_channel(grpc_server: ServerHandle) -> None:
    async def run() -> tuple[list[str], int]:
        channel = grpc.aio.insecure_channel(grpc_server.target)
        async with AsyncPrioscoreClient(channel=channel, timeout=10) as api:
            names = [p.name for p in await api.list_profiles()]
            summary = await api.ingest(_async_events(lead_events("a-1", hot=True)))
        await channel.close()  # the client never closes a channel it was handed
        return names, summary.accepted

    names, accepted = asyncio.run(run())
    assert "churn_risk" in names and accepted == 5


def test_sync_client_on_a_channel_factory_closes_that_channel(grpc_server: ServerHandle) -> None:
    made: list[grpc.aio.Channel] = []

    def factory() -> grpc.aio.Channel:
        made.append(grpc.aio.insecure_channel(grpc_server.target))
        return made[-1]

    with PrioscoreClient(channel_factory=factory, timeout=10) as api:
        assert "churn_risk" in [p.name for p in api.list_profiles()]
        assert api.aio.channel is made[0]
    # the channel was closed on the client's loop before it stopped: it is unusable now
    assert made[0].get_state() == grpc.ChannelConnectivity.SHUTDOWN


async def _async_events(items: list[types_pb2.Event]):  # type: ignore[no-untyped-def]
    for item in items:
        yield item


def test_erase_removes_everything(client: PrioscoreClient) -> None:
    client.ingest(lead_events("gone-1", hot=True))
    erased = client.erase_entity("gone-1")
    assert erased.entity_removed and erased.events_removed == 5 and not erased.after_retry
    with pytest.raises(NotFoundError):
        client.score_entities("lead_qualification", ["gone-1"])


def test_backtest_calibrate_and_compare_are_client_methods(client: PrioscoreClient) -> None:
    batch = [e for i in range(20) for e in lead_events(f"e{i:02d}", hot=i % 2 == 0)]
    client.ingest(batch)
    now = events.timestamp(time.time())
    outcomes = [
        types_pb2.Outcome(entity_id=f"e{i:02d}", label=i % 2 == 0, outcome_time=now)
        for i in range(20)
    ]
    backtest = client.backtest(outcomes, profile="lead_qualification", k=5)
    assert backtest.report.entities == 20 and backtest.report.positives == 10
    assert backtest.report.auc > 0.5 and not backtest.HasField("shadow")

    calibrated = client.calibrate("lead_qualification", outcomes, k=5)
    assert calibrated.weights and "lead_qualification" in calibrated.candidate_toml

    compared = client.compare("lead_qualification", candidate_toml=calibrated.candidate_toml)
    assert compared.entities == 20

    async def run() -> int:
        async with AsyncPrioscoreClient(client.aio.target, timeout=10) as api:
            response = await api.backtest(outcomes, profile="lead_qualification")
            return response.report.entities

    assert asyncio.run(run()) == 20


def test_erase_suppresses_until_allowed(client: PrioscoreClient) -> None:
    batch = lead_events("gone-1", hot=True)
    client.ingest(batch)
    client.erase_entity("gone-1")
    replay = client.ingest(batch)  # a producer replaying its log
    assert (replay.accepted, replay.suppressed) == (0, len(batch))
    assert client.allow_entity("gone-1") is True
    assert client.ingest(batch).accepted == len(batch)
