"""`prioscore backtest` / `calibrate` against a real server, and a bad outcomes file."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import numpy as np

from prioscore.clients import PrioscoreClient
from prioscore.clients.events import timestamp
from prioscore.server.profiles import bundled
from prioscore.v1 import types_pb2
from tests.cli.conftest import Cli
from tests.conftest import ServerHandle

DAY = 86400.0


def _outcomes_csv(grpc_server: ServerHandle, path: Path) -> Path:
    """80 contacts; those who asked for a demo mostly converted, 20 days later."""
    rng = np.random.default_rng(3)
    outcome_time = time.time() - 5 * DAY
    events, lines = [], ["entity_id,label,outcome_time"]
    for i in range(80):
        entity, demo = f"lead{i:02d}", bool(i % 2)
        event = types_pb2.Event(
            message_id=f"e{i}",
            kind=types_pb2.EVENT_KIND_TRACK,
            entity_id=entity,
            entity_kind="contact",
            event="form_submit" if demo else "page_view",
            properties={"form": "demo_request"} if demo else {"url": "/blog/x"},
            time=timestamp(outcome_time - 20 * DAY),
        )
        events.append(event)
        label = int(rng.random() < (0.8 if demo else 0.15))
        when = (
            outcome_time
            if i % 3
            else time.strftime(  # ISO and epoch both accepted
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(outcome_time)
            )
        )
        lines.append(f"{entity},{label},{when}")
    with PrioscoreClient(grpc_server.target) as api:
        api.ingest(events)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_backtest_and_calibrate_commands(
    cli: Cli, grpc_server: ServerHandle, tmp_path: Path
) -> None:
    outcomes = str(_outcomes_csv(grpc_server, tmp_path / "outcomes.csv"))
    table = cli("backtest", "lead_qualification", outcomes, "--horizon-days", "7").stdout
    assert "AUC" in table and "lift by decile" in table and "TIER" in table

    [report] = cli.json("backtest", "lead_qualification", outcomes, "--horizon-days", "7")
    assert 0.5 < report["auc"] <= 1.0 and report["entities"] == 80
    assert len(report["lift_by_decile"]) == 10 and report["shadow"] is None

    candidate = tmp_path / "candidate.toml"
    result = cli(
        "calibrate", "lead_qualification", outcomes, "--horizon-days", "7", "--out", str(candidate)
    )
    assert "demo_request" in result.stdout and "candidate written to" in result.stdout
    parsed = tomllib.loads(candidate.read_text())
    assert parsed["profile"]["name"] == "lead_qualification"
    demo = [s for s in parsed["signals"] if s["name"] == "demo_request"]
    assert demo and demo[0]["weight"] > 0

    [shadowed] = cli.json(
        "backtest", "lead_qualification", outcomes, "--candidate", str(candidate),
        "--horizon-days", "7",
    )  # fmt: skip
    assert shadowed["shadow"]["baseline_profile"] == "lead_qualification"
    assert shadowed["auc"] >= report["auc"] - 1e-9


def test_bad_outcomes_file_names_file_line_and_field(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("entity_id,label,outcome_time\nann,1,2026-01-01T00:00:00Z\nbob,maybe,x\n")
    result = cli("backtest", "lead_qualification", str(path), ok=False)
    assert result.exit_code == 1
    assert f"{path}: line 3: field 'label'" in result.stderr
    assert f"{path}: line 3: field 'outcome_time'" in result.stderr


def test_compare_command(cli: Cli, grpc_server: ServerHandle, tmp_path: Path) -> None:
    _outcomes_csv(grpc_server, tmp_path / "outcomes.csv")
    profile = bundled.DIRECTORY / "lead_qualification.toml"
    toml = profile.read_text()
    same = tmp_path / "same.toml"
    same.write_text(toml)
    [identical] = cli.json("compare", "lead_qualification", "--candidate", str(same))
    assert identical["entities"] == 80 and identical["tier_moves_total"] == 0
    assert identical["top_k_overlap"] == 1.0 and identical["tier_moves"] == []

    changed = tmp_path / "changed.toml"
    changed.write_text(toml.replace("weight = 35\ncap = 35\n", "weight = 100\ncap = 100\n", 1))
    assert changed.read_text() != toml
    [report] = cli.json("compare", "lead_qualification", "--candidate", str(changed), "--k", "10")
    assert report["entities"] == 80 and report["tier_moves_total"] > 0
    assert len(report["tier_moves"]) == report["tier_moves_total"]
    assert all(m["from_tier"] != m["to_tier"] for m in report["tier_moves"])

    table = cli("compare", "lead_qualification", "--candidate", str(changed), "--limit", "2")
    assert "80 entities compared" in table.stdout and "rank correlation" in table.stdout
    assert f"{report['tier_moves_total']} tier moves" in table.stdout
    assert "largest tier moves" in table.stdout and "FROM_TIER" in table.stdout.upper()

    same_name = cli("compare", "lead_qualification", "--with", "lead_qualification").stdout
    assert "0 tier moves" in same_name

    usage = cli("compare", "lead_qualification", ok=False)
    assert usage.exit_code == 2
    missing = cli("compare", "lead_qualification", "--with", "nope", ok=False)
    assert missing.exit_code == 1 and "nope" in missing.stderr
