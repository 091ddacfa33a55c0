"""ticket_triage against ITIL practice (ServiceNow, Freshservice): priority is the impact x
urgency matrix from the moment a ticket opens; SLA time-to-breach, friction and the
account's churn risk order tickets within and then across cells."""

from __future__ import annotations

import pytest

from tests.scenarios.world import World

P = "ticket_triage"
# ITIL 4x4 matrix: level(impact) + level(urgency) = 2 -> P1, 3 -> P2, 4 -> P3, >= 5 -> P4.
MATRIX = [
    ("widespread", "critical", "P1"),
    ("widespread", "high", "P2"),
    ("significant", "critical", "P2"),
    ("widespread", "medium", "P3"),
    ("significant", "high", "P3"),
    ("moderate", "critical", "P3"),
    ("significant", "medium", "P4"),
    ("moderate", "high", "P4"),
    ("minor", "critical", "P4"),
    ("minor", "low", "P4"),
]


def opened(w: World, ticket: str, impact: str, urgency: str, tier: str, account: str = "") -> None:
    w.entity(ticket, "ticket", account, impact=impact, urgency=urgency, customer_tier=tier)
    w.did(ticket, "ticket", "ticket_opened", 0, severity="normal")


@pytest.mark.parametrize("customer_tier", ["enterprise", "free"])
def test_a_new_ticket_opens_in_its_matrix_priority(world: World, customer_tier: str) -> None:
    for n, (impact, urgency, _) in enumerate(MATRIX):
        opened(world, f"t{n}", impact, urgency, customer_tier)
    tiers = {n: world.tier(P, f"t{n}") for n in range(len(MATRIX))}
    assert tiers == {n: want for n, (_, _, want) in enumerate(MATRIX)}


def test_a_major_outage_at_a_top_customer_is_p1_when_opened(world: World) -> None:
    opened(world, "outage", "widespread", "critical", "enterprise")
    opened(world, "howto", "minor", "low", "enterprise")
    world.did("howto", "ticket", "ticket_opened", 3)  # an old question does not overtake it
    assert world.tier(P, "outage") == "P1"
    assert world.order(P, "howto", "outage") == ["outage", "howto"]


def test_sla_time_to_breach_orders_a_cell(world: World) -> None:
    for ticket in ("fresh", "near_breach", "breached"):
        opened(world, ticket, "significant", "high", "business")
    world.did("fresh", "ticket", "sla_started", 0, value=2.0)  # a two-day target, just set
    world.did("near_breach", "ticket", "sla_started", 0.8, value=1.0)  # 80% gone
    world.did("breached", "ticket", "sla_started", 1.0, value=0.5)  # twice the target
    order = world.order(P, "fresh", "near_breach", "breached")
    assert order == ["breached", "near_breach", "fresh"]
    assert world.tier(P, "fresh") == "P3"  # a running clock alone does not change the cell


def test_a_breached_neglected_ticket_climbs_out_of_its_cell(world: World) -> None:
    opened(world, "neglected", "significant", "high", "business")
    world.did("neglected", "ticket", "ticket_opened", 3)
    world.did("neglected", "ticket", "sla_started", 3, value=1.0)  # three times the target
    world.did("neglected", "ticket", "ticket_comment", 0, author="customer", times=2)
    opened(world, "fresh", "significant", "high", "business")
    assert world.tier(P, "fresh") == "P3"
    assert world.tier(P, "neglected") in ("P2", "P1")


def test_an_answered_ticket_waits_behind_an_unanswered_one(world: World) -> None:
    opened(world, "answered", "moderate", "medium", "standard")
    opened(world, "unanswered", "moderate", "medium", "standard")
    world.did("answered", "ticket", "ticket_comment", 0, author="agent")
    assert world.order(P, "answered", "unanswered") == ["unanswered", "answered"]


def test_a_ticket_from_an_account_at_risk_comes_first(world: World) -> None:
    world.entity("risky", "account", plan="monthly", months_as_customer=3.0)
    for day in (1, 8, 20):
        world.did("risky", "account", "payment_failed", day, reason="card_declined")
    world.entity("safe", "account", plan="multi_year", months_as_customer=50.0)
    world.did("safe", "account", "login", 0)
    opened(world, "from_risky", "significant", "high", "business", account="risky")
    opened(world, "from_safe", "significant", "high", "business", account="safe")
    assert world.order(P, "from_safe", "from_risky") == ["from_risky", "from_safe"]


def test_solved_tickets_leave_the_queue(world: World) -> None:
    opened(world, "done", "widespread", "critical", "enterprise")
    world.entity("done", "ticket", status="solved")
    assert world.scores(P, "done")["done"].disqualified
