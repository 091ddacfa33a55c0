"""account_engagement against account-based marketing practice: buying committees, not
lone champions, sign contracts; one person refreshing a page is one look."""

from __future__ import annotations

from tests.scenarios.world import World

P = "account_engagement"


def lead(w: World, contact: str, account: str, seniority: str, days: list[float]) -> None:
    w.entity(contact, "contact", account, seniority=seniority, employees=400, industry="software")
    for day in days:
        w.did(contact, "contact", "page_view", day, url="/pricing", value=90)
    w.did(contact, "contact", "form_submit", days[0], form="demo_request")


def test_a_buying_committee_outranks_a_lone_champion(world: World) -> None:
    world.entity("committee", "account")
    world.entity("champion", "account")
    lead(world, "c_vp", "committee", "vp", [0, 3])
    lead(world, "c_dir", "committee", "director", [1, 4])
    lead(world, "c_mgr", "committee", "manager", [2, 5])
    lead(world, "solo", "champion", "c_level", [0, 1, 2, 3, 4, 5, 6])
    assert world.order(P, "champion", "committee") == ["committee", "champion"]


def test_one_colleague_refreshing_pricing_is_capped_per_day(world: World) -> None:
    for account in ("refresher", "steady"):
        world.entity(account, "account")
    world.entity("r1", "contact", "refresher")
    world.did("r1", "contact", "page_view", 0, url="/pricing", times=40)
    world.entity("s1", "contact", "steady")
    for day in range(5):
        world.did("s1", "contact", "page_view", day, url="/pricing")
    assert world.order(P, "refresher", "steady") == ["steady", "refresher"]
