"""The four bundled profiles: they load, round-trip, and their header comments stay true.

The header comment of each profile lists the events, properties and attributes it reads;
a demo data generator is written against those lists, so these tests keep them in sync
with what the profile actually uses.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from prioscore.server.engine import Aggregate, Profile, Relation, TierMode
from prioscore.server.profiles.bundled import DIRECTORY as BUNDLED_PROFILES
from prioscore.server.profiles.loading import (
    load_directory,
    load_profile,
    load_profile_text,
    profile_digest,
    profile_to_toml,
)

PROFILES = BUNDLED_PROFILES
NAMES = ["account_engagement", "churn_risk", "lead_qualification", "saas_renewal", "ticket_triage"]
ENTITIES = {
    "account_engagement": "account",
    "lead_qualification": "contact",
    "churn_risk": "account",
    "saas_renewal": "subscription",
    "ticket_triage": "ticket",
}


def load(name: str) -> Profile:
    return load_profile(PROFILES / f"{name}.toml")


def header(name: str) -> str:
    """The leading comment block of a profile file."""
    lines = []
    for line in (PROFILES / f"{name}.toml").read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def documented_events(name: str) -> dict[str, str]:
    """event -> its comment line, from the "Events this profile reads" list."""
    text = header(name)
    block = text[text.index("Events this profile reads") : text.index("# Attributes:")]
    events: dict[str, str] = {}
    current = ""
    for line in block.splitlines()[1:]:
        if started := re.match(r"^#   ([a-z_]+)\s", line):
            current = started.group(1)
            events[current] = line
        elif current:  # a continuation line, indented deeper
            events[current] += "\n" + line
    return events


def documents(line: str, prop: str) -> bool:
    return re.search(rf"\b{re.escape(prop)}\s*=", line) is not None


def test_directory_holds_exactly_the_bundled_profiles() -> None:
    profiles = load_directory(PROFILES)
    assert sorted(profiles) == NAMES
    for name, profile in profiles.items():
        assert profile.name == name
        assert profile.entity == ENTITIES[name]
        assert profile.source.endswith(f"{name}.toml")


@pytest.mark.parametrize("name", NAMES)
def test_round_trip(name: str) -> None:
    profile = load(name)
    again = load_profile_text(profile_to_toml(profile), "written.toml")
    assert again.source == "written.toml"
    assert dataclasses.replace(again, source=profile.source) == profile
    assert profile_to_toml(again) == profile_to_toml(profile)


@pytest.mark.parametrize("name", NAMES)
def test_digest_ignores_layout_but_not_content(name: str) -> None:
    profile = load(name)
    digest = profile_digest(profile)
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    rewritten = load_profile_text(profile_to_toml(profile), "elsewhere.toml")  # no comments
    assert profile_digest(rewritten) == digest
    first = profile.signals[0]
    changed = dataclasses.replace(
        profile, signals=(dataclasses.replace(first, weight=first.weight + 1), *profile.signals[1:])
    )
    assert profile_digest(changed) != digest


@pytest.mark.parametrize("name", NAMES)
def test_header_lists_every_event_property_and_attribute(name: str) -> None:
    profile = load(name)
    events = documented_events(name)
    assert set(events) == set(profile.event_types), "event list in the header is stale"
    for signal in profile.signals:
        for prop in signal.match:
            if prop == "category":
                props = {c.property for c in profile.categories}
                assert all(documents(events[signal.event], p) for p in props), signal.name
            else:
                assert documents(events[signal.event], prop), f"{signal.name}: {prop} undocumented"
        if signal.aggregate is Aggregate.DENSITY:
            assert documents(events[signal.event], "clicks")
    attributes_line = next(x for x in header(name).splitlines() if x.startswith("# Attributes:"))
    for attribute in [f.attribute for f in profile.fit] + [d.attribute for d in profile.disqualify]:
        assert attribute in attributes_line, f"attribute {attribute} undocumented"
    if profile.reads_profiles:
        scores_line = next(x for x in header(name).splitlines() if x.startswith("# Scores read:"))
        assert all(read in scores_line for read in profile.reads_profiles)


@pytest.mark.parametrize("name", NAMES)
def test_every_signal_explains_its_weight(name: str) -> None:
    text = (PROFILES / f"{name}.toml").read_text()
    blocks = text.split("[[signals]]")[1:]
    assert len(blocks) == len(load(name).signals)
    for block in blocks:
        body = block.split("\n[")[0]
        assert re.search(r"^# .*\S", body, re.M), f"no comment in signal block:{body[:60]}"


def test_lead_qualification_semantics() -> None:
    p = load("lead_qualification")
    assert p.tiers.mode is TierMode.ABSOLUTE
    assert p.tiers.names == ("cold", "warm", "hot")
    assert p.tiers.thresholds == (0.0, 40.0, 70.0)
    eliminatory = [c for c in p.categories if c.eliminatory]
    assert {x for c in eliminatory for x in c.prefixes} == {"/careers", "/jobs"}
    hot = next(c for c in p.categories if c.name == "hot")
    assert set(hot.prefixes) == {"/pricing", "/demo", "/contact-sales"}
    (rule,) = p.disqualify
    assert rule.attribute == "relationship"
    assert set(rule.values) == {"competitor", "customer", "partner", "internal"}
    by_name = {s.name: s for s in p.signals}
    assert by_name["inactivity"].aggregate is Aggregate.DAYS_SINCE_LAST
    assert by_name["inactivity"].weight < 0
    assert {f.attribute for f in p.fit} == {"seniority", "employees", "industry"}
    assert 0 < p.fit_weight < 1


def test_churn_risk_rises_as_usage_declines() -> None:
    p = load("churn_risk")
    by_name = {s.name: s for s in p.signals}
    recency = by_name["days_since_login"]
    assert recency.aggregate is Aggregate.DAYS_SINCE_LAST and recency.weight > 0
    assert recency.cap is not None and recency.missing * recency.weight >= recency.cap
    assert by_name["login_trend"].aggregate is Aggregate.TREND
    assert by_name["login_trend"].weight < 0  # a decline (negative trend) adds risk
    assert by_name["nps_detractor"].match == {"nps_group": ("detractor",)}
    assert p.tiers.names == ("healthy", "watch", "at_risk", "critical")


def test_saas_renewal_uses_quantile_tiers() -> None:
    p = load("saas_renewal")
    assert p.tiers.mode is TierMode.QUANTILE
    assert all(0.0 <= t <= 1.0 for t in p.tiers.thresholds)
    assert p.max_points == sum(s.cap or 0 for s in p.signals if s.weight > 0)  # the default
    assert any(f.attribute == "days_to_renewal" and f.ranges for f in p.fit)


def test_ticket_triage_priorities_ascend_to_p1() -> None:
    p = load("ticket_triage")
    assert p.tiers.names == ("P4", "P3", "P2", "P1")
    age = next(s for s in p.signals if s.name == "sla_age")
    assert age.aggregate is Aggregate.DAYS_SINCE_FIRST and age.event == "ticket_opened"
    assert age.weight > 0
    assert {f.attribute for f in p.fit} >= {"impact", "urgency", "customer_tier"}


def test_account_engagement_rolls_up_contacts() -> None:
    p = load("account_engagement")
    assert p.members == "contact"
    by_name = {s.name: s for s in p.signals}
    engaged = by_name["engaged_contacts"]
    assert (engaged.scores, engaged.of, engaged.aggregate) == (
        "lead_qualification",
        Relation.MEMBERS,
        Aggregate.COUNT,
    )
    # "Engaged" means at least warm under lead_qualification.
    assert engaged.min_score == load("lead_qualification").tiers.thresholds[1]
    assert by_name["engaged_roles"].by == "seniority"
    assert by_name["hottest_contact"].aggregate is Aggregate.MAX


def test_ticket_triage_reads_its_account_churn_risk() -> None:
    p = load("ticket_triage")
    churn = next(s for s in p.signals if s.reads_scores)
    assert (churn.scores, churn.of, churn.aggregate) == (
        "churn_risk",
        Relation.ACCOUNT,
        Aggregate.SCORE,
    )
    # The churn signal adds urgency on top of the ticket's own caps, which still reach 100.
    own = sum(s.cap or 0 for s in p.signals if s.weight > 0 and not s.reads_scores)
    assert p.max_points == own
    profiles = list(load_directory(PROFILES))
    assert profiles.index("churn_risk") < profiles.index("ticket_triage")  # dependency order
