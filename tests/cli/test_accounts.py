"""Accounts on the command line: ranked accounts name the contacts behind their score."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_demo_and_report import SMALL


def test_rank_and_explain_accounts_name_their_contributors(cli: Cli) -> None:
    cli("demo", *SMALL, "--seed", "5")
    ranked = cli.json("rank", "account_engagement", "--limit", "5")
    top = ranked[0]
    assert top["contributors"], "a ranked account names the contacts behind its score"
    contact, points = top["contributors"][0].rsplit(" ", 1)
    assert contact.startswith("contact-") and float(points) > 0
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
