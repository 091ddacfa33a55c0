"""demo (every profile gets a sensible ranking) and the at-risk report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.conftest import ServerHandle

SMALL = ("--contacts", "60", "--accounts", "40", "--subscriptions", "40", "--tickets", "40")


@pytest.fixture
def demo(cli: Cli) -> list[dict[str, object]]:
    return cli.json("demo", *SMALL, "--seed", "11")  # type: ignore[no-any-return]


def test_demo_gives_every_profile_a_spread_ranking(cli: Cli, demo: list[dict[str, object]]) -> None:
    assert {row["profile"] for row in demo} == {
        "lead_qualification", "account_engagement", "churn_risk", "saas_renewal", "ticket_triage"
    }  # fmt: skip
    for profile in cli.json("profiles", "list"):
        ranked = cli.json("rank", profile["name"], "--all")
        scores = [r["score"] for r in ranked]
        assert len(ranked) >= 25, profile["name"]
        assert scores == sorted(scores, reverse=True)
        assert max(scores) - min(scores) > 30, f"{profile['name']}: no spread"
        tiers = {r["tier"] for r in ranked}
        assert tiers <= set(profile["tiers"]) and len(tiers) >= 3, (profile["name"], tiers)
        assert all(r["reasons"] for r in ranked[:5])
        entity = ranked[0]["entity_id"]
        assert entity.startswith(profile["entity"] + "-")


def test_demo_is_reproducible_and_round_trips_through_ingest(cli: Cli, tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    cli("demo", *SMALL, "--seed", "3", "--out", str(first))
    cli("demo", *SMALL, "--seed", "3", "--out", str(second))
    rows = [json.loads(line) for line in first.read_text().splitlines()]
    kinds = {r["kind"] for r in rows}
    assert kinds == {"identify", "group", "track"}
    assert all(r.get("entity_kind") for r in rows)
    assert sum(1 for r in rows if r["kind"] == "identify") == 60 + 40 + 40 + 40
    same = [
        json.loads(line)["event"] for line in second.read_text().splitlines() if "event" in line
    ]
    assert same == [r["event"] for r in rows if "event" in r]  # the same seed, the same story
    summary = cli.json("ingest", str(first))[0]
    assert summary["accepted"] + summary["duplicates"] == len(rows)


def test_at_risk_lists_risky_accounts_with_reasons_and_trend(
    cli: Cli, demo: list[dict[str, object]]
) -> None:
    report = cli.json("at-risk")
    assert report, "the demo should leave some accounts at risk"
    assert {r["tier"] for r in report} <= {"at_risk", "critical"}
    assert all(r["entity_id"].startswith("account-") and r["reasons"] for r in report)
    assert {r["trend"] for r in report} <= {"rising", "falling", "flat", "unknown"}
    scores = [r["score"] for r in report]
    assert scores == sorted(scores, reverse=True)
    only_critical = cli.json("at-risk", "--tiers", "critical")
    assert {r["entity_id"] for r in only_critical} <= {r["entity_id"] for r in report}
    assert "trend over 30 days" in cli("at-risk").stderr


def test_at_risk_trend_rises_when_warning_signs_arrive(
    cli: Cli, grpc_server: ServerHandle, tmp_path: Path
) -> None:
    """The trend compares with the score a real 30 days ago: right after the quiet
    history it is unknown (not a surge between two points seconds apart); 31 days of
    server time later, with warning signs, it is rising."""
    start = 1_900_000_000.0
    grpc_server.clock.set(start)
    now = start + 31 * 86_400
    quiet = [
        {"kind": "identify", "entity_id": "acme", "entity_kind": "account",
         "traits": {"plan": "monthly", "months_as_customer": 2}},
        {"kind": "track", "entity_id": "acme", "entity_kind": "account", "event": "login",
         "time": now - 45 * 86_400},
    ]  # fmt: skip
    worse = [
        {"kind": "track", "entity_id": "acme", "entity_kind": "account", "event": event,
         "time": now - hours * 3600, "properties": props}
        for event, hours, props in [
            ("payment_failed", 30, {"reason": "card_declined"}),
            ("payment_failed", 5, {"reason": "expired_card"}),
            ("nps_response", 2, {"nps_group": "detractor"}),
            ("ticket_opened", 1, {"severity": "urgent"}),
        ]
    ]  # fmt: skip
    for name, rows in (("quiet.jsonl", quiet), ("worse.jsonl", worse)):
        path = tmp_path / name
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        cli("ingest", str(path))
        if name == "quiet.jsonl":
            [young] = cli.json("at-risk", "--tiers", "healthy,watch,at_risk,critical")
            assert young["trend"] == "unknown"
            grpc_server.clock.set(now)
            grpc_server.settle()
    [acme] = cli.json("at-risk")
    assert acme["entity_id"] == "acme" and acme["trend"] == "rising" and acme["change"] > 10
    assert "↑ rising" in cli("at-risk").stdout
