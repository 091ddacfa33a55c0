"""Account rollups and cross-profile signals through the real server (bundled profiles).

account_engagement rolls contacts up into their account and reads their
lead_qualification scores; ticket_triage reads its account's churn_risk. Expected
features are computed from what the server itself reports for the related entities, so
the tests check the relation, not numbers copied from a run.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from prioscore.server.profiles import load_profile_text
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import (
    event_service_pb2_grpc,
    profile_service_pb2_grpc,
    scoring_service_pb2_grpc,
    types_pb2,
)
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import scoring_service_pb2 as sc
from tests.conftest import PROFILES, ServerHandle

_ids = itertools.count()


class Api:
    def __init__(self, handle: ServerHandle) -> None:
        self.channel = handle.channel()
        self.events = event_service_pb2_grpc.EventServiceStub(self.channel)
        self.scoring = scoring_service_pb2_grpc.ScoringServiceStub(self.channel)
        self.profiles = profile_service_pb2_grpc.ProfileServiceStub(self.channel)

    def ingest(self, *events: types_pb2.Event) -> ev.IngestEventsResponse:
        return self.events.IngestEvents(iter([ev.IngestEventsRequest(events=list(events))]))

    def explain(self, profile: str, entity_id: str) -> types_pb2.Score:
        request = sc.ScoreEntitiesRequest(
            profile=profile,
            stored=sc.StoredEntities(entity_ids=[entity_id]),
            explain=True,
            top_reasons=3,
        )
        (score,) = self.scoring.ScoreEntities(request).scores
        return score

    def ranked(self, profile: str) -> dict[str, types_pb2.Score]:
        reply = self.scoring.RankEntities(
            sc.RankEntitiesRequest(profile=profile, page_size=100, top_reasons=3)
        )
        return {s.entity_id: s for s in reply.scores}


@pytest.fixture
def api(grpc_server: ServerHandle) -> Api:
    return Api(grpc_server)


def event(
    entity: str, kind: str, name: str, days_ago: float = 0.0, **props: str
) -> types_pb2.Event:
    e = types_pb2.Event(
        message_id=f"r{next(_ids)}",
        kind=types_pb2.EVENT_KIND_TRACK,
        entity_id=entity,
        entity_kind=kind,
        event=name,
        properties=props,
    )
    e.time.FromSeconds(int(1_900_000_000 - days_ago * 86_400))
    return e


def member(entity: str, kind: str, account: str, **traits: str) -> list[types_pb2.Event]:
    """identify (kind, traits) and group (account) of one entity."""
    identify = types_pb2.Event(
        message_id=f"r{next(_ids)}",
        kind=types_pb2.EVENT_KIND_IDENTIFY,
        entity_id=entity,
        entity_kind=kind,
        traits=traits,
    )
    group = types_pb2.Event(
        message_id=f"r{next(_ids)}",
        kind=types_pb2.EVENT_KIND_GROUP,
        entity_id=entity,
        entity_kind=kind,
        account_id=account,
    )
    return [identify, group]


def eager_lead(contact: str) -> list[types_pb2.Event]:
    """A contact who checks pricing on several days and asks for a demo."""
    visits = [event(contact, "contact", "page_view", d, url="/pricing") for d in (0, 1, 2, 3)]
    return [*visits, event(contact, "contact", "form_submit", 0, form="demo_request")]


def contribution(score: types_pb2.Score, name: str) -> types_pb2.Contribution:
    return next(c for c in score.contributions if c.name == name)


@pytest.fixture(autouse=True)
def frozen_clock(grpc_server: ServerHandle) -> None:
    """Events are stamped near 1.9e9 s; score as of then so decay is deterministic."""
    grpc_server.clock.set(1_900_000_000.0)


def test_account_rolls_up_its_contacts(api: Api) -> None:
    api.ingest(
        *member("ann", "contact", "acme", seniority="vp"),
        *member("bob", "contact", "acme", seniority="director"),
        *member("cat", "contact", "acme", seniority="manager"),
        *member("dan", "contact", "globex", seniority="vp"),
        *eager_lead("ann"),
        *eager_lead("bob"),
        event("cat", "contact", "page_view", 20, url="/blog"),
        event("dan", "contact", "page_view", 1, url="/pricing"),
    )
    leads = {c: api.explain("lead_qualification", c).score for c in ("ann", "bob", "cat")}
    engaged = [c for c, s in leads.items() if s >= 40]
    assert sorted(engaged) == ["ann", "bob"]  # the scenario: two engaged, one quiet

    account = api.explain("account_engagement", "acme")
    assert contribution(account, "engaged_contacts").feature == len(engaged)
    assert contribution(account, "hottest_contact").feature == pytest.approx(max(leads.values()))
    assert contribution(account, "engaged_roles").feature == 2  # vp and director
    # acme has no events of its own: its contacts' pricing visits are rolled up.
    assert (
        contribution(account, "buying_pages").feature
        > contribution(api.explain("account_engagement", "globex"), "buying_pages").feature
        > 0
    )
    contributors = [c.entity_id for c in account.top_contributors]
    points = [c.points for c in account.top_contributors]
    assert set(contributors[:2]) == {"ann", "bob"}  # the engaged pair first...
    assert contributors[2:] in ([], ["cat"])  # ...then cat's one blog visit, if anything
    assert points == sorted(points, reverse=True) and all(p > 0 for p in points)

    ranked = api.ranked("account_engagement")
    assert list(ranked) == ["acme", "globex"]  # RankEntities on accounts
    stored = ranked["acme"]
    assert stored.score == pytest.approx(account.score)
    assert [c.entity_id for c in stored.top_contributors] == contributors


def test_a_contact_event_rescores_its_account_in_the_same_ingest(api: Api) -> None:
    api.ingest(
        *member("ann", "contact", "acme", seniority="vp"),
        *member("cat", "contact", "acme", seniority="manager"),
        *eager_lead("ann"),
    )
    before = api.ranked("account_engagement")["acme"]
    reply = api.ingest(*eager_lead("cat"))  # only contact events: acme is reached by relation
    after = api.ranked("account_engagement")["acme"]
    assert after.score > before.score
    assert contribution(api.explain("account_engagement", "acme"), "engaged_contacts").feature == 2
    assert reply.entities_rescored >= 2  # cat under lead_qualification, acme under the rollup
    assert "cat" in [c.entity_id for c in after.top_contributors]


def test_ticket_reads_its_account_churn_risk_and_follows_it(api: Api) -> None:
    api.ingest(
        *member("t1", "ticket", "acme", impact="moderate"),
        member("t2", "ticket", "", impact="moderate")[0],  # identify only: no account
        event("t1", "ticket", "ticket_opened", 1, severity="normal"),
        event("t2", "ticket", "ticket_opened", 1, severity="normal"),
        event("acme", "account", "payment_failed", 5),
        event("acme", "account", "login", 40),
    )
    churn = api.explain("churn_risk", "acme").score
    ticket = api.explain("ticket_triage", "t1")
    assert contribution(ticket, "account_churn_risk").feature == pytest.approx(churn)
    assert contribution(api.explain("ticket_triage", "t2"), "account_churn_risk").feature == 0
    stored_before = api.ranked("ticket_triage")["t1"].score

    # Only the account moves; its ticket is rescored in the same ingest.
    api.ingest(*(event("acme", "account", "payment_failed", d) for d in (1, 2)))
    churn_after = api.explain("churn_risk", "acme").score
    assert churn_after > churn
    stored_after = api.ranked("ticket_triage")["t1"]
    assert stored_after.score > stored_before
    assert stored_after.score == pytest.approx(api.explain("ticket_triage", "t1").score)
    assert api.ranked("ticket_triage")["t2"].score == pytest.approx(
        api.explain("ticket_triage", "t2").score
    )


def test_inline_ticket_reads_the_stored_churn_of_the_account_it_names(api: Api) -> None:
    api.ingest(event("acme", "account", "payment_failed", 3))
    churn = api.explain("churn_risk", "acme").score
    request = sc.ScoreEntitiesRequest(
        profile="ticket_triage",
        inline_events=sc.InlineEvents(
            events=[event("t9", "ticket", "ticket_opened", 1)],
            entities=[types_pb2.Entity(id="t9", kind="ticket", account_id="acme")],
        ),
        explain=True,
    )
    (score,) = api.scoring.ScoreEntities(request).scores
    assert contribution(score, "account_churn_risk").feature == pytest.approx(churn)


def test_a_profile_cycle_is_rejected_on_reload_with_its_path(
    start_grpc_server: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    directory = tmp_path / "profiles"
    shutil.copytree(PROFILES, directory)
    api = Api(start_grpc_server(directory))
    churn_file = directory / "churn_risk.toml"
    text = churn_file.read_text()
    loop = text.replace(
        "\n[[fit]]",
        '\n[[signals]]\nname = "urgent_tickets"\nscores = "ticket_triage"\nof = "members"\n'
        'aggregate = "count"\nmin_score = 75\nweight = 5\ncap = 15\n\n[[fit]]',
        1,
    )
    serving = load_profile_text(text, "churn_risk.toml").version
    bumped = loop.replace(f"version = {serving}", f"version = {serving + 1}", 1)
    assert bumped != loop
    churn_file.write_text(bumped)

    result = api.profiles.ReloadProfiles(pb.ReloadProfilesRequest())
    assert not result.applied
    (issue,) = result.issues
    assert issue.file.endswith("churn_risk.toml")
    assert issue.key.endswith(".scores")
    assert "churn_risk → ticket_triage → churn_risk" in issue.reason
    assert loop.splitlines()[issue.line - 1] == 'scores = "ticket_triage"'
    # The good set keeps serving.
    versions = {
        p.name: p.version for p in api.profiles.ListProfiles(pb.ListProfilesRequest()).profiles
    }
    assert versions["churn_risk"] == serving
    with pytest.raises(grpc.RpcError) as caught:
        api.scoring.ScoreEntities(
            sc.ScoreEntitiesRequest(
                profile="churn_risk", stored=sc.StoredEntities(entity_ids=["x"])
            )
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # served, entity unknown


def test_a_contact_moving_account_rescores_both_accounts(api: Api) -> None:
    api.ingest(
        *member("ann", "contact", "acme", seniority="vp"),
        *member("bob", "contact", "globex", seniority="vp"),
        *eager_lead("ann"),
        *eager_lead("bob"),
    )
    before = api.ranked("account_engagement")
    api.ingest(member("ann", "contact", "globex")[1])  # one group event: ann joins globex
    after = api.ranked("account_engagement")
    assert after["acme"].score < before["acme"].score  # acme lost its engaged contact
    assert after["globex"].score > before["globex"].score
    assert (
        contribution(api.explain("account_engagement", "globex"), "engaged_contacts").feature == 2
    )
    assert after["acme"].score == pytest.approx(api.explain("account_engagement", "acme").score)


def test_erasing_a_contact_or_an_account_rescores_what_read_it(api: Api) -> None:
    api.ingest(
        *member("ann", "contact", "acme", seniority="vp"),
        *member("bob", "contact", "acme", seniority="director"),
        *member("t1", "ticket", "acme", impact="moderate"),
        *eager_lead("ann"),
        *eager_lead("bob"),
        event("t1", "ticket", "ticket_opened", 1),
        event("acme", "account", "payment_failed", 2),
    )
    api.events.EraseEntity(ev.EraseEntityRequest(entity_id="bob"))
    acme = api.ranked("account_engagement")["acme"]
    assert [c.entity_id for c in acme.top_contributors][:1] == ["ann"]
    assert "bob" not in [c.entity_id for c in acme.top_contributors]
    assert acme.score == pytest.approx(api.explain("account_engagement", "acme").score)

    ticket_before = api.ranked("ticket_triage")["t1"].score
    api.events.EraseEntity(ev.EraseEntityRequest(entity_id="acme"))
    assert api.ranked("ticket_triage")["t1"].score < ticket_before  # no churn to read any more
    assert contribution(api.explain("ticket_triage", "t1"), "account_churn_risk").feature == 0
    assert "acme" not in api.ranked("account_engagement")  # not brought back by its contacts
    api.ingest(event("ann", "contact", "page_view", 0, url="/pricing"))
    assert "acme" not in api.ranked("account_engagement")


def test_backtest_of_an_account_profile_sees_its_contacts_events(api: Api) -> None:
    """Only the contacts act, so the account profile can only rank accounts if the
    backtest rolls their events up (point in time) as scoring does."""
    outcome_time = 1_900_000_000 - 10 * 86_400
    events: list[types_pb2.Event] = []
    outcomes: list[types_pb2.Outcome] = []
    for i in range(24):
        account, contact, converted = f"a{i}", f"a{i}-c", i % 2 == 0
        events += member(contact, "contact", account, seniority="vp")
        visits = 6 if converted else 1
        events += [
            event(contact, "contact", "page_view", 12 + d, url="/pricing") for d in range(visits)
        ]
        outcome = types_pb2.Outcome(entity_id=account, label=converted)
        outcome.outcome_time.FromSeconds(outcome_time)
        outcomes.append(outcome)
    api.ingest(*events)
    report = api.profiles.Backtest(
        pb.BacktestRequest(profile="account_engagement", outcomes=outcomes, horizon_days=1, k=5)
    ).report
    assert report.entities == 24 and report.auc == 1.0


def test_promoting_a_read_profile_rescores_its_readers(
    start_grpc_server: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    directory = tmp_path / "profiles"
    shutil.copytree(PROFILES, directory)
    handle = start_grpc_server(directory)
    handle.clock.set(1_900_000_000.0)
    api = Api(handle)
    api.ingest(
        *member("t1", "ticket", "acme", impact="moderate"),
        event("t1", "ticket", "ticket_opened", 1),
        event("acme", "account", "payment_failed", 2),
    )
    before = api.ranked("ticket_triage")["t1"].score
    active = (directory / "churn_risk.toml").read_text()
    version = load_profile_text(active, "churn_risk.toml").version + 1
    failures = active.split('name = "failed_payments"')[1].split("[[signals]]")[0]
    heavier = re.sub(r"^weight = .*$", "weight = 40", failures, count=1, flags=re.M)
    heavier = re.sub(r"^cap = .*$", "cap = 40", heavier, count=1, flags=re.M)
    candidate = active.replace(failures, heavier, 1)
    candidate = re.sub(r"^version = \d+", f"version = {version}", candidate, count=1, flags=re.M)
    assert candidate.count("weight = 40") == 1
    api.profiles.StageProfile(pb.StageProfileRequest(toml=candidate, filename="churn_v2.toml"))
    api.profiles.PromoteProfile(pb.PromoteProfileRequest(name="churn_risk", shadow_version=version))

    churn = api.explain("churn_risk", "acme")
    assert churn.profile_version == version
    ticket = api.ranked("ticket_triage")["t1"]  # stored: rescored by the promotion itself
    assert ticket.score > before
    fresh = api.explain("ticket_triage", "t1")
    assert ticket.score == pytest.approx(fresh.score)
    assert contribution(fresh, "account_churn_risk").feature == pytest.approx(churn.score)
