"""An outside client reads a profile from GetProfile alone and reproduces a score.

The reference scorer below knows nothing of prioscore.server: it follows the formulas the
proto documents (SignalDetail, CategoryRule, FitRule, CombineMode) over typed fields, so
it breaks when the contract stops saying enough - or stops being true.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import profile_service_pb2_grpc
from tests.conftest import ServerHandle
from tests.scenarios.world import DAY, NOW, World


@dataclass
class Ev:
    event: str
    ts: float
    value: float = 1.0
    props: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def category(rules: list[pb.CategoryRule], e: Ev) -> str:
    for rule in rules:
        text = e.props.get(rule.property)
        if text is None:
            continue
        if (
            text in rule.equals
            or any(text.startswith(p) for p in rule.prefixes)
            or any(c in text for c in rule.contains)
        ):
            return rule.name
    return ""


def selected(profile: pb.GetProfileResponse, s: pb.SignalDetail, events: list[Ev]) -> list[Ev]:
    out = []
    for e in sorted(events, key=lambda e: e.ts):
        if e.event != s.event or e.ts > NOW:
            continue
        values = {
            m.key: (
                category(list(profile.categories), e) if m.key == "category" else e.props.get(m.key)
            )
            for m in s.match
        }
        if all(values[m.key] in m.values for m in s.match):
            out.append(e)
    if s.once_per:
        seen: set[str] = set()
        firsts = []
        for e in out:
            key = e.props.get(s.once_per, "")
            if key not in seen:
                seen.add(key)
                firsts.append(e)
        out = firsts
    if s.per_day:
        per: dict[int, int] = {}
        kept = []
        for e in out:
            day = math.floor(e.ts / DAY)
            per[day] = per.get(day, 0) + 1
            if per[day] <= s.per_day:
                kept.append(e)
        out = kept
    return out


def feature(s: pb.SignalDetail, events: list[Ev]) -> float:
    if not events:
        return s.missing
    ages = [(NOW - e.ts) / DAY for e in events]
    agg = s.aggregate
    if agg == "count":
        return float(len(events))
    if agg == "exists":
        return 1.0
    if agg == "decayed_count":
        return sum(0.5 ** (a / s.half_life_days) for a in ages)
    if agg == "window_count":
        return float(sum(a < s.window_days for a in ages))
    if agg == "days_since_last":
        return min(ages)
    if agg == "distinct_days":
        return float(len({math.floor(e.ts / DAY) for e in events}))
    if agg == "trend":
        recent = sum(a < s.window_days for a in ages)
        prior = sum(s.window_days <= a < 2 * s.window_days for a in ages)
        return 0.0 if recent + prior < s.min_volume else (recent - prior) / (prior + 1)
    if agg == "density":
        return sum(e.value * e.metrics.get("clicks", 1.0) for e in events) / len(events)
    raise AssertionError(f"the reference scorer does not know {agg!r}")


def award(rule: pb.FitRule, value: str | float | None) -> float:
    if isinstance(value, str):
        return rule.points.get(value, 0.0)
    if value is None:
        return 0.0
    for r in rule.ranges:
        low = r.min if r.HasField("min") else -math.inf
        high = r.max if r.HasField("max") else math.inf
        if low <= value < high:
            return r.points
    return 0.0


def reference_score(
    profile: pb.GetProfileResponse, events: list[Ev], attributes: dict[str, str | float]
) -> float:
    raw = 0.0
    for s in profile.signals:
        points = s.weight * feature(s, selected(profile, s, events))
        cap = s.cap if s.HasField("cap") else math.inf
        raw += min(max(points, -cap), cap)
    engagement = 100 * min(max(raw, 0.0), profile.max_points) / profile.max_points
    fit_points = sum(award(rule, attributes.get(rule.attribute)) for rule in profile.fit)
    fit = 100 * min(max(fit_points, 0.0), profile.fit_max_points) / profile.fit_max_points
    w = profile.fit_weight
    if profile.combine == pb.COMBINE_MODE_MULTIPLY:
        return engagement * (1 - w + w * fit / 100)
    return (1 - w) * engagement + w * fit


def test_a_client_reproduces_a_lead_score_from_get_profile_alone(
    world: World, grpc_server: ServerHandle
) -> None:
    stub = profile_service_pb2_grpc.ProfileServiceStub(world.channel)
    profile = stub.GetProfile(pb.GetProfileRequest(name="lead_qualification"))
    assert profile.direction == pb.SCORE_DIRECTION_HIGHER_IS_BETTER
    assert "email_open" in profile.events and profile.categories[0].property == "url"

    attributes: dict[str, str | float] = {"seniority": "director", "employees": 120.0}
    world.entity("c", "contact", **attributes)
    history = [
        Ev("page_view", NOW - 0.1 * DAY, 80, {"url": "/pricing"}, {"clicks": 3}),
        Ev("page_view", NOW - 0.2 * DAY, 40, {"url": "/pricing/teams"}, {"clicks": 1}),
        *(Ev("page_view", NOW - 0.3 * DAY - i, 5, {"url": "/pricing"}) for i in range(4)),
        Ev("page_view", NOW - 3 * DAY, 200, {"url": "/docs/api"}, {"clicks": 6}),
        Ev("page_view", NOW - 20 * DAY, 30, {"url": "/blog/x"}),
        *(Ev("email_open", NOW - 0.5 * DAY - 60 * i, props={"campaign": "q3"}) for i in range(6)),
        Ev("email_click", NOW - 2 * DAY, props={"campaign": "q3"}),
        Ev("form_submit", NOW - 1 * DAY, props={"form": "content_download", "asset": "g"}),
        Ev("form_submit", NOW - 2 * DAY, props={"form": "content_download", "asset": "g"}),
        Ev("email_bounce", NOW - 4 * DAY, props={"bounce_type": "soft"}),
    ]
    for e in history:
        world.did("c", "contact", e.event, (NOW - e.ts) / DAY, value=e.value, **e.props)
        sent = world.pending[-1]
        for key, number in e.metrics.items():
            sent.metrics[key] = number
    [stored] = world.scores("lead_qualification", "c").values()

    expected = reference_score(profile, history, attributes)
    assert expected > 10.0  # a real case, not an empty one
    assert stored.score == pytest.approx(expected, rel=1e-5)


def test_get_profile_carries_direction_scope_alerts_and_rules(grpc_server: ServerHandle) -> None:
    with grpc_server.channel() as channel:
        stub = profile_service_pb2_grpc.ProfileServiceStub(channel)
        churn = stub.GetProfile(pb.GetProfileRequest(name="churn_risk"))
        triage = stub.GetProfile(pb.GetProfileRequest(name="ticket_triage"))
        listed = {p.name: p for p in stub.ListProfiles(pb.ListProfilesRequest()).profiles}
    assert churn.direction == pb.SCORE_DIRECTION_HIGHER_IS_RISKIER
    assert listed["churn_risk"].direction == pb.SCORE_DIRECTION_HIGHER_IS_RISKIER
    assert listed["saas_renewal"].direction == pb.SCORE_DIRECTION_HIGHER_IS_BETTER
    assert churn.alerts.margin > 0
    [status] = churn.disqualify
    assert status.attribute == "account_status" and "churned" in status.values
    plan = next(f for f in churn.fit if f.attribute == "plan")
    assert plan.max_award == max(plan.points.values())
    tenure = next(f for f in churn.fit if f.attribute == "months_as_customer")
    assert not tenure.ranges[0].HasField("min") and tenure.ranges[0].HasField("max")
    assert triage.fit_max_points == sum(f.max_award for f in triage.fit)
    assert {f.attribute for f in triage.fit} == {"impact", "urgency", "customer_tier"}
    chasing = next(s for s in triage.signals if s.name == "customer_chasing")
    assert [(m.key, list(m.values)) for m in chasing.match] == [("author", ["customer"])]
    sla = next(s for s in triage.signals if s.name == "sla_elapsed")
    assert (sla.event, sla.aggregate) == ("sla_started", "deadline_elapsed")


def test_ingest_reports_the_events_no_profile_reads(world: World) -> None:
    world.did("c", "contact", "page_view", 0, url="/pricing")
    world.did("c", "contact", "page_veiw", 0, url="/pricing", times=2)  # a typo
    world.did("t", "ticket", "ticket_merged", 1)
    world.entity("c", "contact", seniority="vp")  # identify events are not track events
    reply = world.send()
    assert [(u.event, u.count) for u in reply.unread_events] == [
        ("page_veiw", 2),
        ("ticket_merged", 1),
    ]
    world.did("c", "contact", "email_open", 0, campaign="q3")
    assert list(world.send().unread_events) == []
