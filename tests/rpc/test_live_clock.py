"""Time is an input: with no new event, the server's clock moves stored scores and tiers,
and watchers hear of it (through the real server, with its injectable clock)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import (
    event_service_pb2_grpc,
    profile_service_pb2_grpc,
    scoring_service_pb2_grpc,
    types_pb2,
)
from prioscore.v1 import profile_service_pb2 as pf
from prioscore.v1 import scoring_service_pb2 as sc
from tests.cli.conftest import Cli
from tests.conftest import PROFILES, ServerHandle

T0 = 1_900_000_000.0
DAY = 86_400.0
CLOCK = types_pb2.TIER_CHANGE_CAUSE_CLOCK


class Api:
    """Stubs on one server, and the few calls these tests make."""

    def __init__(self, handle: ServerHandle) -> None:
        self.handle = handle
        self.channel = handle.channel()
        self.scoring = scoring_service_pb2_grpc.ScoringServiceStub(self.channel)
        self.events = event_service_pb2_grpc.EventServiceStub(self.channel)
        self.profiles = profile_service_pb2_grpc.ProfileServiceStub(self.channel)

    def ingest(self, *events: types_pb2.Event, backfill: bool = False, per_message: int = 0):
        size = per_message or max(len(events), 1)
        batches = [
            ev.IngestEventsRequest(events=events[i : i + size], backfill=backfill)
            for i in range(0, len(events), size)
        ]
        return self.events.IngestEvents(iter(batches), timeout=30)

    def ranked(self, profile: str) -> dict[str, types_pb2.Score]:
        page = self.scoring.RankEntities(
            sc.RankEntitiesRequest(profile=profile, page_size=1000, include_disqualified=True),
            timeout=10,
        )
        return {s.entity_id: s for s in page.scores}

    def fresh(self, profile: str, entity_id: str) -> types_pb2.Score:
        """ScoreEntities from stored events as of the server's now (the truth): as_of set,
        so it is computed from the events, not answered from the stored score."""
        request = sc.ScoreEntitiesRequest(
            profile=profile,
            stored=sc.StoredEntities(entity_ids=[entity_id]),
            as_of=_stamp(self.handle.clock.now()),
        )
        return self.scoring.ScoreEntities(request, timeout=10).scores[0]

    def move_clock(self, when: float) -> None:
        self.handle.clock.set(when)
        self.handle.settle()


@pytest.fixture
def api(grpc_server: ServerHandle) -> Iterator[Api]:
    grpc_server.clock.set(T0)
    grpc_server.settle()
    api = Api(grpc_server)
    yield api
    api.channel.close()


def event(
    entity: str, kind: str, name: str, days_ago: float, message_id: str = "", **props: str
) -> types_pb2.Event:
    return types_pb2.Event(
        message_id=message_id or f"{entity}-{name}-{days_ago}",
        kind=types_pb2.EVENT_KIND_TRACK,
        entity_id=entity,
        entity_kind=kind,
        event=name,
        time=_stamp(T0 - days_ago * DAY),
        properties=props,
    )


def identify(entity: str, kind: str, traits: dict[str, str], numbers: dict[str, float]):
    return types_pb2.Event(
        message_id=f"{entity}-identify",
        kind=types_pb2.EVENT_KIND_IDENTIFY,
        entity_id=entity,
        entity_kind=kind,
        traits=traits,
        numeric_traits=numbers,
        time=_stamp(T0 - 100 * DAY),
    )


def _stamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def sla_started(entity: str, target_days: float) -> types_pb2.Event:
    """The helpdesk's SLA clock starting now, `value` = the resolution target in days."""
    started = event(entity, "ticket", "sla_started", 0)
    started.value = target_days
    return started


def tier_rank(api: Api, profile: str, tier: str) -> int:
    names = list(api.profiles.GetProfile(pf.GetProfileRequest(name=profile)).profile.tier_names)
    return names.index(tier)


class Watcher:
    """A WatchTierChanges stream read on a thread into a list."""

    def __init__(self, api: Api, **filters: object) -> None:
        self.heard: list[types_pb2.TierChange] = []
        self._call = api.scoring.WatchTierChanges(sc.WatchTierChangesRequest(**filters))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        hub = api.handle.running.handlers.hub
        deadline = threading.Event()
        for _ in range(500):  # until the server registered the watcher (bounded)
            if api.handle.call(lambda: hub.watcher_count):
                break
            deadline.wait(0.01)

    def _read(self) -> None:
        try:
            for response in self._call:
                self.heard.append(response.change)
        except grpc.RpcError:
            pass

    def stop(self) -> list[types_pb2.TierChange]:
        self._call.cancel()
        self._thread.join(timeout=10)
        return self.heard


def churning_account(api: Api) -> None:
    """Logged in daily for two months until yesterday, one failed payment, a detractor."""
    api.ingest(
        identify("acme", "account", {"plan": "monthly"}, {"months_as_customer": 30}),
        *[event("acme", "account", "login", d) for d in range(1, 61)],
        event("acme", "account", "payment_failed", 2),
        event("acme", "account", "nps_response", 3, nps_group="detractor"),
    )


def test_silence_alone_raises_churn_risk_and_watchers_hear_it(api: Api) -> None:
    churning_account(api)
    before = api.ranked("churn_risk")["acme"]
    watcher = Watcher(api, profile="churn_risk")
    api.move_clock(T0 + 40 * DAY)  # forty days, not one event
    after = api.ranked("churn_risk")["acme"]
    truth = api.fresh("churn_risk", "acme")
    assert after.score > before.score + 10
    assert after.score == pytest.approx(truth.score) and after.tier == truth.tier
    assert tier_rank(api, "churn_risk", after.tier) > tier_rank(api, "churn_risk", before.tier)
    assert after.update_time.seconds == int(T0 + 40 * DAY)
    days = {r.name: r.feature for r in after.top_reasons}
    assert days.get("days_since_login", 41) == pytest.approx(41)  # the silence is the reason

    heard = watcher.stop()
    assert [(c.entity_id, c.previous_tier, c.tier, c.cause) for c in heard][-1] == (
        "acme",
        heard[0].previous_tier,
        after.tier,
        CLOCK,
    )
    assert all(c.cause == CLOCK and not c.cause_message_id for c in heard)
    # The customer-success view agrees: the account is at risk now, for silence.
    report = Cli(api.handle.target).json("at-risk")
    assert [r["entity_id"] for r in report] == ["acme"]


def test_a_lead_decays_out_of_its_hot_tier(api: Api) -> None:
    api.ingest(
        identify(
            "lead", "contact", {"seniority": "vp", "industry": "software"}, {"employees": 400}
        ),
        *[
            event("lead", "contact", "page_view", d + i / 10, url="/pricing")
            for i in range(3)
            for d in range(6)
        ],
        *[event("lead", "contact", "page_view", d, url="/docs/api") for d in range(8)],
        event("lead", "contact", "form_submit", 1, form="demo_request"),
        *[event("lead", "contact", "email_click", 1 + i) for i in range(4)],
        *[event("lead", "contact", "webinar_attended", 3 + i) for i in range(2)],
    )
    hot = api.ranked("lead_qualification")["lead"]
    assert hot.tier == "hot"
    api.move_clock(T0 + 60 * DAY)
    cooled = api.ranked("lead_qualification")["lead"]
    assert cooled.tier != "hot" and cooled.score < hot.score - 10
    assert cooled.score == pytest.approx(api.fresh("lead_qualification", "lead").score)


def test_an_ignored_ticket_climbs_tiers_by_age_alone(api: Api) -> None:
    api.ingest(
        identify(
            "t-1",
            "ticket",
            {"impact": "significant", "urgency": "high", "customer_tier": "business"},
            {},
        ),
        event("t-1", "ticket", "ticket_opened", 0),
        sla_started("t-1", target_days=1.0),
    )
    opened = api.ranked("ticket_triage")["t-1"]
    api.move_clock(T0 + 2 * DAY)  # the one-day SLA target is long breached
    aged = api.ranked("ticket_triage")["t-1"]
    assert aged.score > opened.score
    assert tier_rank(api, "ticket_triage", aged.tier) > tier_rank(api, "ticket_triage", opened.tier)


def test_an_event_caused_change_names_its_own_event(api: Api) -> None:
    watcher = Watcher(api, profile="lead_qualification")
    api.ingest(
        event("a", "contact", "form_submit", 0.5, "a-first", form="demo_request"),
        event("b", "contact", "form_submit", 0.4, "b-only", form="demo_request"),
        event("a", "contact", "page_view", 0.1, "a-last", url="/pricing"),
    )
    api.move_clock(T0)  # nothing is due: settles at once
    for _ in range(200):
        if len(watcher.heard) >= 2:
            break
        threading.Event().wait(0.01)
    heard = {c.entity_id: c for c in watcher.stop()}
    assert heard["a"].cause_message_id == "a-last" and heard["b"].cause_message_id == "b-only"
    assert {c.cause for c in heard.values()} == {types_pb2.TIER_CHANGE_CAUSE_EVENT}


def test_a_historical_import_keeps_one_history_point_per_entity(api: Api) -> None:
    contacts = [f"c{i}" for i in range(20)]
    rows = [
        event(c, "contact", "page_view", 90 - day, f"{c}-{day}", url="/pricing")
        for c in contacts
        for day in range(0, 90, 3)
    ]
    before = api.handle.call(api.handle.service.store.last_tier_change_id)
    done = api.ingest(*rows, backfill=True, per_message=50)
    assert done.accepted == len(rows) and done.entities_rescored >= len(contacts)
    for contact in contacts:
        points = api.scoring.GetScoreHistory(
            sc.GetScoreHistoryRequest(entity_id=contact, profile="lead_qualification"),
            timeout=10,
        ).points
        assert len(points) == 1
        assert points[0].cause == types_pb2.TIER_CHANGE_CAUSE_BACKFILL
        assert points[0].time.seconds == int(T0) and points[0].top_reasons
    store = api.handle.service.store
    changes = api.handle.call(
        lambda: store.tier_changes_since(before, profile="lead_qualification")
    )
    assert len(changes) <= len(contacts)  # at most one per entity: no storm
    assert {c.cause for c in changes} == {"backfill"}


def test_a_mixed_backfill_stream_is_refused(api: Api) -> None:
    batches = [
        ev.IngestEventsRequest(events=[event("x", "contact", "page_view", 1)], backfill=True),
        ev.IngestEventsRequest(events=[event("y", "contact", "page_view", 1)]),
    ]
    with pytest.raises(grpc.RpcError) as refused:
        api.events.IngestEvents(iter(batches), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[1].backfill" in (refused.value.details() or "")


def test_a_reloaded_new_profile_scores_the_stored_entities_at_once(
    start_grpc_server: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    directory = tmp_path / "profiles"
    shutil.copytree(PROFILES, directory)
    handle = start_grpc_server(directory)
    handle.clock.set(T0)
    handle.settle()
    api = Api(handle)
    try:
        api.ingest(*[event(f"p{i}", "contact", "page_view", i, url="/pricing") for i in range(5)])
        text = (directory / "lead_qualification.toml").read_text()
        (directory / "lead_copy.toml").write_text(
            text.replace('name = "lead_qualification"', 'name = "lead_copy"', 1)
        )
        assert api.profiles.ReloadProfiles(pf.ReloadProfilesRequest(), timeout=10).applied
        handle.settle()
        copied = api.ranked("lead_copy")
        assert set(copied) == {f"p{i}" for i in range(5)}
        original = api.ranked("lead_qualification")
        assert {e: s.score for e, s in copied.items()} == pytest.approx(
            {e: s.score for e, s in original.items()}
        )
        changes = handle.call(
            lambda: handle.service.store.tier_changes_since(0, profile="lead_copy")
        )
        assert changes and {c.cause for c in changes} == {"reload"}
    finally:
        api.channel.close()
