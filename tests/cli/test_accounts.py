"""Accounts on the command line: ranked accounts name the contacts behind their score."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_demo_and_report import SMALL


def test_rank_and_explain_accounts_name_their_contributors(cli: Cli) -> None:
    cli("demo", *SMALL, "--seed", "5")
    ranked = cli.json("rank", "account_engagement", "--limit", "5")
    top = ranked[0]
    assert top["contributors"], "a ranked account names the contacts behind its score"
    first = top["contributors"][0]  # JSON: structured fields, not "contact-1 +12.0"
    contact, points = first["entity_id"], first["points"]
    assert contact.startswith("contact-") and points > 0
    # The contributor really is one of the account's contacts.
    members = {
        r["entity_id"]
        for r in cli.json("rank", "lead_qualification", "--all", "--account", top["entity_id"])
    }
    assert contact in members
    shown = cli("explain", "account_engagement", top["entity_id"]).stdout
    assert "top contributors: " + contact in shown
    table = cli("rank", "account_engagement", "--limit", "3").stdout
    assert "CONTRIBUTORS" in table.splitlines()[0]


def test_profiles_show_names_what_a_score_signal_reads(cli: Cli) -> None:
    shown = cli("profiles", "show", "account_engagement").stdout
    assert "rolls up the events of its contact members" in shown
    assert "lead_qualification scores of members" in shown
    assert "score>=40" in shown and "by=seniority" in shown
    signals = cli.json("profiles", "show", "ticket_triage")
    churn = next(s for s in signals if s["signal"] == "account_churn_risk")
    assert churn["event"] == "churn_risk scores of account" and churn["aggregate"] == "score"
