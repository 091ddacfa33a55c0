"""Every page in headless Chromium against a real server with demo data: the expected
entities in the expected order, a chart with points, a live tier change, screenshots."""

from __future__ import annotations

import re
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from prioscore.clients import events
from prioscore.clients.trends import risky_tiers
from tests.dashboard.browsing import row_ids, screenshot, wait_for
from tests.dashboard.conftest import DAY, DEMO_DAYS, T0, Demo, RunningDashboard, next_version

LEADS = "lead_qualification"


def test_ranked_list_shows_the_ranking_with_names_and_pages_by_keyboard(
    demo: Demo, dashboard: RunningDashboard, browser: WebDriver, tmp_path: Path
) -> None:
    browser.get(f"{dashboard.url}/profiles/{LEADS}")
    expected = [s.entity_id for s in demo.client.rank(LEADS, limit=20)]
    assert row_ids(browser, "ranked") == expected[:10]
    top = demo.client.get_entity(expected[0]).entity
    first_row = browser.find_element(By.CSS_SELECTOR, "#ranked tbody tr")
    assert top.attributes["name"] in first_row.text and top.attributes["email"] in first_row.text
    holder = browser.find_element(By.ID, "population")
    wait_for(browser, lambda d: holder.get_attribute("data-loaded") == "true")
    tiers = browser.find_elements(By.CSS_SELECTOR, "table.bars")[0]
    counts = [int(c.text) for c in tiers.find_elements(By.CSS_SELECTOR, "td.count")]
    total = demo.client.rank_page(LEADS, page_size=1).total_size
    assert sum(counts) == total and len(counts) == len(
        demo.client.get_profile(LEADS).profile.tier_names
    )
    screenshot(browser, tmp_path, "ranked")
    # Keyboard only: focus the next-page link and press Enter.
    browser.find_element(By.ID, "next-page").send_keys(Keys.ENTER)
    wait_for(browser, lambda d: "page=" in d.current_url)
    assert row_ids(browser, "ranked") == expected[10:20]


def test_ranked_list_filters_by_tier_and_minimum_score(
    demo: Demo, dashboard: RunningDashboard, browser: WebDriver
) -> None:
    tier = demo.client.get_profile(LEADS).profile.tier_names[-1]
    browser.get(f"{dashboard.url}/profiles/{LEADS}?tier={tier}&min_score=20&page_size=50")
    expected = [s.entity_id for s in demo.client.rank(LEADS, tiers=[tier], min_score=20)]
    assert expected and row_ids(browser, "ranked") == expected[:50]


def test_entity_page_charts_history_and_explains_every_contribution(
    demo: Demo, dashboard: RunningDashboard, browser: WebDriver, tmp_path: Path
) -> None:
    top = next(iter(demo.client.rank("account_engagement", limit=1)))
    browser.get(f"{dashboard.url}/entities/{top.entity_id}?profile=account_engagement")
    chart = browser.find_element(By.ID, "history-chart")
    points = int(wait_for(browser, lambda d: chart.get_attribute("data-points")))
    history = demo.client.history(top.entity_id, "account_engagement")
    assert points == len(history) >= 2
    assert chart.find_elements(By.TAG_NAME, "canvas"), "uPlot drew a canvas"
    (explained,) = demo.client.score_entities("account_engagement", [top.entity_id], explain=True)
    rows = browser.find_elements(By.CSS_SELECTOR, "#contributions tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [
        c.name for c in explained.contributions
    ]
    members = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#members tbody tr")]
    assert members and top.top_contributors[0].entity_id in members[0]
    screenshot(browser, tmp_path, "entity")
    # A contact's fit rules show the attribute value behind them.
    contact = next(iter(demo.client.rank(LEADS, limit=1)))
    browser.get(f"{dashboard.url}/entities/{contact.entity_id}?profile={LEADS}")
    entity = demo.client.get_entity(contact.entity_id).entity
    fit_rows = [
        r.find_elements(By.TAG_NAME, "td")
        for r in browser.find_elements(By.CSS_SELECTOR, "#contributions tbody tr")
    ]
    fits = {cells[0].text: cells[3].text for cells in fit_rows if cells[1].text == "fit"}
    assert fits, "lead_qualification has fit rules"
    for name, shown in fits.items():
        value = entity.attributes.get(name) or entity.numeric_attributes.get(name)
        assert shown == ("(not set)" if value is None else str(value)), name
    account = browser.find_element(By.ID, "account-heading").text
    assert entity.account_id in account


def test_at_risk_view_lists_risky_accounts_with_trends(
    demo: Demo, dashboard: RunningDashboard, browser: WebDriver, tmp_path: Path
) -> None:
    browser.get(f"{dashboard.url}/at-risk?days=2")
    tiers = risky_tiers(demo.client.get_profile("churn_risk").profile.tier_names)
    expected = [s.entity_id for s in demo.client.rank("churn_risk", tiers=tiers, limit=10)]
    assert expected and row_ids(browser, "at-risk") == expected
    trends = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#at-risk td.trend")]
    assert all(re.match(r"^(↑ rising|↓ falling|→ flat) [+-]\d", t) for t in trends), trends
    assert browser.find_elements(By.CSS_SELECTOR, "#at-risk svg.spark polyline")
    screenshot(browser, tmp_path, "at-risk")


def test_live_feed_shows_the_tier_change_an_ingest_causes(
    demo: Demo, dashboard: RunningDashboard, browser: WebDriver, tmp_path: Path
) -> None:
    browser.get(f"{dashboard.url}/feed?profile={LEADS}")
    status = browser.find_element(By.ID, "feed-status")
    wait_for(browser, lambda d: status.get_attribute("data-state") == "live")
    now = T0 + DEMO_DAYS * DAY  # the pinned server clock
    sent = [
        events.identify("contact-live", traits={"name": "Live Lead"}, entity_kind="contact"),
        *(events.track("contact-live", "demo_request", time=now - i) for i in range(3)),
    ]
    summary = demo.client.ingest(sent)
    assert summary.tier_changes >= 1
    row = wait_for(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, '#feed tr[data-entity="contact-live"]'),
    )[0]
    assert row.get_attribute("data-cause") == "event"
    assert LEADS in row.text and sent[-1].message_id in row.text
    screenshot(browser, tmp_path, "feed")


def test_shadow_page_compares_a_staged_candidate(
    demo: Demo, dashboard: RunningDashboard, browser: WebDriver, tmp_path: Path
) -> None:
    browser.get(f"{dashboard.url}/profiles/{LEADS}/shadow")
    assert "No candidate is staged" in browser.find_element(By.TAG_NAME, "main").text
    toml = demo.client.get_profile(LEADS).toml
    candidate = next_version(toml).replace("weight = 8", "weight = 1", 1)
    demo.client.stage_profile(candidate)
    browser.get(f"{dashboard.url}/profiles/{LEADS}/shadow")
    compared = demo.client.compare(LEADS, candidate_shadow=True, k=50, page_size=50)
    assert browser.find_element(By.ID, "correlation").text == f"{compared.rank_correlation:.3f}"
    moved = browser.find_elements(By.CSS_SELECTOR, "#movers tbody tr td:first-child a")
    assert [m.text for m in moved] == [m.entity_id for m in compared.tier_moves]
    screenshot(browser, tmp_path, "shadow")
