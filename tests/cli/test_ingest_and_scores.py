"""ingest (CSV, JSONL, bad files), score, rank, explain, history — end to end."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.conftest import Cli
from tests.conftest import ServerHandle


def iso(hours_ago: float) -> str:
    when = datetime.now(UTC) - timedelta(hours=hours_ago)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def lead_csv(path: Path) -> Path:
    """Two contacts: ann (vp, pricing pages, demo request) and bob (one blog visit)."""
    rows = [
        "message_id,kind,entity_id,entity_kind,event,time,value,prop.url,prop.form,"
        "metric.clicks,trait.seniority,trait.employees,trait.industry",
        "i1,identify,ann,contact,,,,,,,vp,300,software",
        "i2,identify,bob,contact,,,,,,,student,5,education",
        f"p1,track,ann,contact,page_view,{iso(30)},80,/pricing,,4,,,",
        f"p2,track,ann,contact,page_view,{iso(5)},120,/pricing/enterprise,,6,,,",
        f"p3,track,ann,contact,form_submit,{iso(4)},,,demo_request,,,,",
        f"p4,track,bob,contact,page_view,{iso(24 * 20)},10,/blog/hello,,1,,,",
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_ingest_csv_then_score_rank_explain_history(cli: Cli, tmp_path: Path) -> None:
    path = lead_csv(tmp_path / "leads.csv")
    summary = cli.json("ingest", str(path))
    assert summary == [
        {"accepted": 6, "duplicates": 0, "entities_rescored": 2, "tier_changes": 2,
         "events_sent": 6}
    ]  # fmt: skip
    assert cli.json("ingest", str(path))[0]["duplicates"] == 6  # re-import stores nothing

    ranked = cli.json("rank", "lead_qualification")
    assert [r["entity_id"] for r in ranked] == ["ann", "bob"]
    assert ranked[0]["score"] > ranked[1]["score"] and ranked[0]["rank"] == 1
    assert any(r["name"] == "demo_request" and r["points"] > 0 for r in ranked[0]["reasons"])

    scored = cli.json("score", "lead_qualification", "ann", "bob")
    assert [s["entity_id"] for s in scored] == ["ann", "bob"]
    assert abs(scored[0]["score"] - ranked[0]["score"]) < 1.0  # decay moves it a hair

    table = cli("rank", "lead_qualification", "--limit", "1")
    assert "ann" in table.stdout and "bob" not in table.stdout
    assert "1 of 2 shown" in table.stderr

    rows = list(csv.DictReader(io.StringIO(cli("rank", "lead_qualification", "--csv").stdout)))
    assert [r["entity_id"] for r in rows] == ["ann", "bob"]

    [explained] = cli.json("explain", "lead_qualification", "ann")
    names = {c["name"] for c in explained["contributions"]}
    assert {"hot_pages", "demo_request", "seniority", "employees"} <= names
    text = cli("explain", "lead_qualification", "ann").stdout
    assert "ann under lead_qualification" in text and "top reasons:" in text

    points = cli.json("history", "ann", "--profile", "lead_qualification")
    assert points and points[0]["profile"] == "lead_qualification"
    everywhere = cli.json("history", "ann")
    assert {p["profile"] for p in everywhere} == {"lead_qualification"}  # contacts only


def test_ingest_jsonl(cli: Cli, tmp_path: Path) -> None:
    now = time.time()
    rows = [
        {"type": "identify", "userId": "acme", "entity_kind": "account",
         "traits": {"plan": "monthly", "months_as_customer": 3}},
        *({"type": "track", "userId": "acme", "event": "payment_failed", "entity_kind": "account",
           "timestamp": now - 86_400 * d, "properties": {"reason": "card_declined"}}
          for d in (1, 8, 20)),
        {"type": "track", "userId": "acme", "event": "nps_response", "entity_kind": "account",
         "timestamp": now - 3600, "value": 2, "properties": {"nps_group": "detractor"}},
    ]  # fmt: skip
    path = tmp_path / "acme.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert cli.json("ingest", str(path))[0]["accepted"] == 5
    [acme] = cli.json("rank", "churn_risk")
    assert acme["entity_id"] == "acme" and acme["tier"] in ("at_risk", "critical")
    assert any(r["name"] == "failed_payments" for r in acme["reasons"])


def test_bad_event_files_name_file_line_field_and_send_nothing(
    cli: Cli, tmp_path: Path, events_stored: Callable[[], int]
) -> None:
    path = lead_csv(tmp_path / "leads.csv")
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace(iso(5)[:4], "soon", 1)  # line 5: a time that is not one
    lines.append("p9,track,,contact,page_view,,,,,,,,")  # line 8: no entity_id
    path.write_text("\n".join(lines) + "\n")
    result = cli("ingest", str(path), ok=False)
    assert result.exit_code == 1
    assert f"{path}: line 5: field 'time'" in result.stderr
    assert f"{path}: line 8: field 'entity_id': required" in result.stderr
    assert "nothing was sent" in result.stderr
    assert events_stored() == 0

    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text(
        '{"entity_id": "c1", "event": "login"}\n'
        '{"entity_id": "c1", "event": "login", "value": "x"}\n'
    )
    result = cli("ingest", str(jsonl), ok=False)
    assert result.exit_code == 1 and f"{jsonl}: line 2: field 'value'" in result.stderr
    assert events_stored() == 0

    dry = cli("ingest", str(lead_csv(tmp_path / "ok.csv")), "--dry-run")
    assert "6 valid events" in dry.stderr and events_stored() == 0


def test_server_errors_print_code_and_field_violations(cli: Cli) -> None:
    missing = cli("score", "lead_qualification", "nobody", ok=False)
    assert missing.exit_code == 1 and "NOT_FOUND" in missing.stderr and "nobody" in missing.stderr
    bad_tier = cli("rank", "lead_qualification", "--tier", "tepid", ok=False)
    assert bad_tier.exit_code == 1 and "INVALID_ARGUMENT" in bad_tier.stderr
    assert "tiers: unknown tier 'tepid'" in bad_tier.stderr
    unknown = cli("rank", "no_such_profile", ok=False)
    assert unknown.exit_code == 1 and "no_such_profile" in unknown.stderr
    usage = cli("rank", ok=False)
    assert usage.exit_code == 2  # click's usage error


def test_explain_shows_the_attribute_value_behind_each_fit_rule(cli: Cli, tmp_path: Path) -> None:
    cli("ingest", str(lead_csv(tmp_path / "leads.csv")))
    [explained] = cli.json("explain", "lead_qualification", "ann")
    fit = {c["name"]: c for c in explained["contributions"] if c["kind"] == "fit"}
    assert fit["seniority"]["value"] == "vp" and fit["seniority"]["points"] > 0
    assert fit["employees"]["value"] == "300" and fit["employees"]["feature"] == 300
    assert fit["industry"]["value"] == "software"
    assert all(isinstance(r, dict) and {"name", "points"} <= r.keys() for r in explained["reasons"])
    table = cli("explain", "lead_qualification", "bob").stdout
    row = next(line for line in table.splitlines() if line.startswith("seniority"))
    assert "student" in row


def test_ingest_backfill_keeps_one_history_point_per_entity(
    cli: Cli, grpc_server: ServerHandle, tmp_path: Path
) -> None:
    """A historical import sent in many small messages still rescores each contact once,
    at the end: one history point (cause backfill), however many batches it took."""
    now = 1_900_000_000.0
    grpc_server.clock.set(now)
    grpc_server.settle()
    rows = [
        {"message_id": f"h{c}-{d}", "entity_id": f"c{c}", "entity_kind": "contact",
         "event": "page_view", "time": now - (60 - d) * 86_400,
         "properties": {"url": "/pricing"}}
        for c in range(5) for d in range(0, 60, 6)
    ]  # fmt: skip
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cli("ingest", str(path), "--backfill", "--batch-size", "7")
    for c in range(5):
        points = cli.json("history", f"c{c}", "--profile", "lead_qualification")
        assert len(points) == 1, points


def test_history_says_what_caused_each_point_and_why(
    cli: Cli, grpc_server: ServerHandle, tmp_path: Path
) -> None:
    now = 1_900_000_000.0
    grpc_server.clock.set(now)
    grpc_server.settle()
    row = {
        "message_id": "w1",
        "entity_id": "why",
        "entity_kind": "contact",
        "event": "form_submit",
        "time": now - 60,
        "properties": {"form": "demo_request"},
    }
    path = tmp_path / "why.jsonl"
    path.write_text(json.dumps(row) + "\n")
    cli("ingest", str(path))
    (point,) = cli.json("history", "why", "--profile", "lead_qualification")
    assert point["cause"] == "event"
    assert [r["name"] for r in point["reasons"]][:1] == ["demo_request"]
    assert "demo_request +" in cli("history", "why", "--profile", "lead_qualification").stdout
