"""churn_risk against customer-success practice (Gainsight / ChurnZero health scores):
higher is riskier; involuntary churn and decline count at least as much as silence."""

from __future__ import annotations

from tests.scenarios.world import World

P = "churn_risk"
STEADY = {"plan": "annual", "months_as_customer": 24.0, "account_status": "active"}


def logins(w: World, account: str, days: list[float]) -> None:
    for day in days:
        w.did(account, "account", "login", day)


def test_decline_with_failed_payments_outranks_plain_silence(world: World) -> None:
    world.entity("quiet", "account", **STEADY)
    logins(world, "quiet", [40, 45, 50])  # went quiet over a month ago
    world.entity("declining", "account", **STEADY)
    logins(world, "declining", [1, 10, 20] + [31 + d for d in range(0, 28, 3)])
    world.did("declining", "account", "payment_failed", 3, reason="card_declined")
    world.did("declining", "account", "payment_failed", 10, reason="card_declined")
    assert world.order(P, "quiet", "declining") == ["declining", "quiet"]


def test_failed_payments_alone_put_an_active_account_on_watch(world: World) -> None:
    steady = [float(d) for d in range(0, 60, 4)]  # every four days for two months
    world.entity("billing", "account", **STEADY)
    logins(world, "billing", steady)
    world.did("billing", "account", "payment_failed", 2, reason="expired_card")
    world.did("billing", "account", "payment_failed", 9, reason="expired_card")
    world.entity("fine", "account", **STEADY)
    logins(world, "fine", steady)
    assert world.tier(P, "fine") == "healthy"
    assert world.tier(P, "billing") in ("watch", "at_risk", "critical")


def test_an_account_with_every_warning_sign_is_critical(world: World) -> None:
    world.entity("leaving", "account", plan="monthly", months_as_customer=4.0)
    logins(world, "leaving", [35 + d for d in range(0, 25, 2)])
    for day in (2, 15, 30):
        world.did("leaving", "account", "payment_failed", day, reason="insufficient_funds")
    world.did("leaving", "account", "nps_response", 5, nps_group="detractor", value=3)
    world.did("leaving", "account", "seat_removed", 6, value=8)
    world.did("leaving", "account", "ticket_opened", 4, severity="urgent")
    assert world.tier(P, "leaving") == "critical"


def test_detractor_outranks_promoter_and_seats_removed_raise_risk(world: World) -> None:
    for account in ("promoter", "detractor", "shrinking"):
        world.entity(account, "account", **STEADY)
        logins(world, account, [0, 2, 4, 7, 10])
    world.did("promoter", "account", "nps_response", 3, nps_group="promoter", value=10)
    world.did("detractor", "account", "nps_response", 3, nps_group="detractor", value=2)
    world.did("shrinking", "account", "seat_removed", 3, value=5)
    order = world.order(P, "promoter", "detractor", "shrinking")
    assert order.index("promoter") == 2
    assert world.tier(P, "promoter") == "healthy"


def test_a_new_monthly_customer_is_riskier_than_a_long_annual_one(world: World) -> None:
    world.entity("new_monthly", "account", plan="monthly", months_as_customer=2.0)
    world.entity("old_annual", "account", plan="multi_year", months_as_customer=60.0)
    for account in ("new_monthly", "old_annual"):
        logins(world, account, [0, 3, 6])
    assert world.order(P, "old_annual", "new_monthly") == ["new_monthly", "old_annual"]


def test_churned_and_internal_accounts_are_not_scored(world: World) -> None:
    world.entity("gone", "account", account_status="churned")
    world.did("gone", "account", "login", 50)
    assert world.scores(P, "gone")["gone"].disqualified
