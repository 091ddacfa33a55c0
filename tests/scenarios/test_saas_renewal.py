"""saas_renewal against renewal-management practice (Gainsight, ChurnZero): adoption depth
and commercial timing make an opportunity; contraction and billing trouble cost."""

from __future__ import annotations

from tests.scenarios.world import World

P = "saas_renewal"
TERMS = {"plan": "business", "annual_contract_value": 30000.0, "status": "active"}


def adopted(w: World, sub: str, days_to_renewal: float) -> None:
    w.entity(sub, "subscription", days_to_renewal=days_to_renewal, **TERMS)
    for week in range(4):
        w.did(sub, "subscription", "seat_usage", 7 * week, value=0.9)
    for day in range(0, 20, 2):
        w.did(sub, "subscription", "feature_used", day, feature="automations")
        w.did(sub, "subscription", "login", day)
    w.did(sub, "subscription", "feature_used", 3, feature="integrations")


def test_deep_adoption_outranks_shallow_use_on_the_same_terms(world: World) -> None:
    adopted(world, "deep", 60)
    world.entity("shallow", "subscription", days_to_renewal=60.0, **TERMS)
    world.did("shallow", "subscription", "login", 0)
    world.did("shallow", "subscription", "seat_usage", 0, value=0.2)
    assert world.order(P, "shallow", "deep") == ["deep", "shallow"]


def test_the_actionable_renewal_window_comes_first(world: World) -> None:
    adopted(world, "in_window", 60)
    adopted(world, "far_out", 300)
    assert world.order(P, "far_out", "in_window") == ["in_window", "far_out"]


def test_contraction_and_failed_payments_cost(world: World) -> None:
    for sub in ("clean", "contracting"):
        adopted(world, sub, 60)
    world.did("contracting", "subscription", "seat_removed", 2, value=4)
    world.did("contracting", "subscription", "payment_failed", 5, reason="card_declined")
    assert world.order(P, "contracting", "clean") == ["clean", "contracting"]


def test_cancelled_and_trial_subscriptions_are_not_renewals(world: World) -> None:
    adopted(world, "cancelled", 60)
    world.entity("cancelled", "subscription", status="cancelled")
    assert world.scores(P, "cancelled")["cancelled"].disqualified
