"""lead_qualification against lead-scoring practice (HubSpot, Pardot, Marketo, Mautic)."""

from __future__ import annotations

import pytest

from prioscore.v1 import types_pb2
from tests.scenarios.world import World

P = "lead_qualification"
IDEAL = {"seniority": "vp", "employees": 400, "industry": "software"}
POOR = {"seniority": "student", "employees": 3, "industry": "education"}


def points(score: types_pb2.Score, name: str) -> float:
    return next(c.points for c in score.contributions if c.name == name)


def engaged(w: World, contact: str, **fit: str | float) -> None:
    """Pricing pages on three days, docs reading and a demo request."""
    w.entity(contact, "contact", **fit)
    for day in (0, 2, 5):
        w.did(contact, "contact", "page_view", day, url="/pricing", value=90)
    w.did(contact, "contact", "page_view", 1, url="/docs/setup", value=120)
    w.did(contact, "contact", "form_submit", 1, form="demo_request")


def test_behaviour_beats_demographics(world: World) -> None:
    world.entity("ideal_silent", "contact", **IDEAL)
    engaged(world, "poor_engaged", **POOR)
    assert world.order(P, "ideal_silent", "poor_engaged") == ["poor_engaged", "ideal_silent"]
    assert world.tier(P, "ideal_silent") == "cold"


def test_fit_grades_leads_that_engage_alike(world: World) -> None:
    engaged(world, "ideal", **IDEAL)
    engaged(world, "poor", **POOR)
    assert world.order(P, "poor", "ideal") == ["ideal", "poor"]


def test_a_textbook_mql_is_hot_and_a_hand_raise_alone_is_warm(world: World) -> None:
    engaged(world, "mql", **IDEAL)
    world.entity("raised_hand", "contact", **IDEAL)
    world.did("raised_hand", "contact", "form_submit", 0, form="contact_sales")
    world.did("raised_hand", "contact", "page_view", 0, url="/blog/post")
    assert world.tier(P, "mql") == "hot"
    assert world.tier(P, "raised_hand") == "warm"


def test_unsubscribe_bounce_and_spam_complaint_subtract(world: World) -> None:
    for contact in ("kept", "unsubscribed", "bounced", "complained"):
        engaged(world, contact, **IDEAL)
    world.did("unsubscribed", "contact", "email_unsubscribe", 0)
    world.did("bounced", "contact", "email_bounce", 0, bounce_type="hard")
    world.did("complained", "contact", "spam_complaint", 0)
    order = world.order(P, "complained", "unsubscribed", "bounced", "kept")
    assert order == ["kept", "bounced", "unsubscribed", "complained"]
    assert world.tier(P, "complained") == "cold"  # nobody should call this contact


def test_a_soft_bounce_costs_nothing(world: World) -> None:
    engaged(world, "soft", **IDEAL)
    engaged(world, "clean", **IDEAL)
    world.did("soft", "contact", "email_bounce", 0, bounce_type="soft")
    scores = world.scores(P, "soft", "clean")
    assert scores["soft"].score == scores["clean"].score


def test_ten_opens_in_a_minute_count_once(world: World) -> None:
    for contact in ("once", "burst", "daily"):
        world.entity(contact, "contact", **IDEAL)
        world.did(contact, "contact", "page_view", 0, url="/blog/post")
    world.did("once", "contact", "email_open", 0, campaign="c1")
    world.did("burst", "contact", "email_open", 0, campaign="c1", times=10)
    for day in (0, 1, 2):
        world.did("daily", "contact", "email_open", day, campaign="c1")
    scores = world.scores(P, "once", "burst", "daily")
    # the first open of the burst counts (nine minutes older, so a hair more decayed)
    assert scores["burst"].score == pytest.approx(scores["once"].score, rel=1e-3)
    assert scores["daily"].score > scores["once"].score  # opens on three days do count


def test_the_same_download_counts_once_new_content_counts_again(world: World) -> None:
    for contact in ("one", "same_thrice", "three_assets"):
        world.entity(contact, "contact", **IDEAL)
        world.did(contact, "contact", "page_view", 0, url="/blog/post")
    world.did("one", "contact", "form_submit", 3, form="content_download", asset="guide")
    for day in (1, 2, 3):
        world.did("same_thrice", "contact", "form_submit", day, form="content_download",
                  asset="guide")  # fmt: skip
    for day, asset in ((1, "guide"), (2, "report"), (3, "checklist")):
        world.did("three_assets", "contact", "form_submit", day, form="content_download",
                  asset=asset)  # fmt: skip
    scores = world.scores(P, "one", "same_thrice", "three_assets")
    assert scores["same_thrice"].score == scores["one"].score
    assert scores["three_assets"].score > scores["one"].score


def test_a_brand_new_visitor_gets_no_surge_points(world: World) -> None:
    world.entity("new", "contact", **IDEAL)
    world.did("new", "contact", "page_view", 0, url="/blog/a")
    world.did("new", "contact", "page_view", 1, url="/blog/b")
    world.entity("surging", "contact", **IDEAL)
    for day in (0, 1, 2, 3, 4, 5):
        world.did("surging", "contact", "page_view", day, url="/blog/c")
    world.did("surging", "contact", "page_view", 20, url="/blog/c")
    scores = world.scores(P, "new", "surging")
    trend = {
        i: next(c for c in s.contributions if c.name == "visit_trend") for i, s in scores.items()
    }
    assert trend["new"].points == 0.0
    assert trend["surging"].points > 0.0


def test_job_seekers_and_competitors_are_not_leads(world: World) -> None:
    engaged(world, "job_seeker", **IDEAL)
    world.did("job_seeker", "contact", "page_view", 0, url="/careers/engineer")
    engaged(world, "rival", **IDEAL, relationship="competitor")
    scores = world.scores(P, "job_seeker", "rival")
    assert all(s.disqualified and s.tier == "" for s in scores.values())
    assert "job_seeker" in scores["job_seeker"].disqualify_reason
