"""GetEntity through the CLI: `prioscore entities show ID` reads what identify/group
traits stored and the entity's current score under each profile."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_demo_and_report import SMALL


def test_entities_show_returns_attributes_and_scores_per_profile(cli: Cli) -> None:
    cli("demo", *SMALL, "--seed", "7")
    top = cli.json("rank", "lead_qualification", "--limit", "1")[0]
    (shown,) = cli.json("entities", "show", top["entity_id"])
    assert shown["id"] == top["entity_id"] and shown["kind"] == "contact"
    assert shown["account_id"].startswith("account-")
    assert shown["attributes"], "identify traits are stored attributes"
    assert shown["create_time"] <= shown["update_time"]
    by_profile = {s["profile"]: s for s in shown["scores"]}
    assert by_profile["lead_qualification"]["score"] == top["score"]
    names = [r["name"] for r in top["reasons"]]  # --json reasons are structured
    assert [r["name"] for r in by_profile["lead_qualification"]["reasons"]] == names
    assert [s["profile"] for s in shown["scores"]] == sorted(by_profile)
    table = cli("entities", "show", top["entity_id"]).stdout
    assert f"account {shown['account_id']}" in table.splitlines()[0]


def test_entities_show_unknown_id_is_not_found(cli: Cli) -> None:
    result = cli("entities", "show", "nobody", ok=False)
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output and "nobody" in result.output


def test_dashboard_command_rejects_a_bad_address(cli: Cli) -> None:
    result = cli("dashboard", "--address", "no-port-here", ok=False)
    assert result.exit_code == 2 and "--address" in result.output
