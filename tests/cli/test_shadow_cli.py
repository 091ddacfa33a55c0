"""`prioscore profiles stage | promote | discard` and `compare --shadow` against a real
server whose profile directory is a private copy (promotion rewrites the file)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from prioscore.clients import PrioscoreClient
from prioscore.v1 import types_pb2
from tests.cli.conftest import Cli
from tests.conftest import ServerHandle

TEST_PROFILES = Path(__file__).resolve().parents[1] / "rpc" / "profiles"
N = 30


@pytest.fixture
def server(start_grpc_server: Callable[..., ServerHandle], tmp_path: Path) -> ServerHandle:
    profiles = tmp_path / "profiles"
    shutil.copytree(TEST_PROFILES, profiles)
    return start_grpc_server(profiles)


def _event(entity: str, event: str, n: int) -> types_pb2.Event:
    return types_pb2.Event(
        message_id=f"{entity}-{event}-{n}",
        kind=types_pb2.EVENT_KIND_TRACK,
        entity_id=entity,
        entity_kind="contact",
        event=event,
    )


def _world(server: ServerHandle) -> None:
    """N contacts with 0-5 page views; every third asked for a demo."""
    events = [_event(f"c{i:02d}", "page_view", j) for i in range(N) for j in range(i % 6)]
    events += [_event(f"c{i:02d}", "form_submit", 0) for i in range(0, N, 3)]
    events += [_event(f"c{i:02d}", "email_open", 0) for i in range(N)]  # every one stored
    with PrioscoreClient(server.target) as api:
        api.ingest(events)


def _candidate(server: ServerHandle, path: Path, version: int = 2) -> Path:
    text = (TEST_PROFILES / "test_leads.toml").read_text()  # version 1
    text = text.replace("version = 1\n", f"version = {version}\n").replace(
        "weight = 10\n", "weight = 20\n", 1
    )
    path.write_text(text)
    return path


def test_stage_compare_promote_discard(server: ServerHandle, tmp_path: Path) -> None:
    cli = Cli(server.target)
    _world(server)
    candidate = _candidate(server, tmp_path / "cand.toml")

    staged = cli("profiles", "stage", str(candidate)).stdout
    assert f"staged test_leads v2 as test_leads@shadow: {N} stored entities scored" in staged
    [listed] = cli.json("profiles", "list")
    assert (listed["version"], listed["shadow"]) == (1, 2)
    ranked = cli.json("rank", "test_leads@shadow", "--limit", "5")
    # Under v2 three views and a demo reach 100 (v1: 80).
    assert len(ranked) == 5 and ranked[0]["score"] == 100.0

    [report] = cli.json("compare", "test_leads", "--shadow")
    assert report["candidate"] == "test_leads@shadow" and report["entities"] == N
    assert report["tier_moves_total"] > 0 and 0 < report["rank_correlation"] <= 1
    table = cli("compare", "test_leads", "--shadow").stdout
    assert "test_leads vs test_leads@shadow" in table and "largest tier moves" in table
    both = cli("compare", "test_leads", "--shadow", "--with", "test_leads", ok=False)
    assert both.exit_code == 2

    stale = cli("profiles", "promote", "test_leads", "--version", "3", ok=False)
    assert stale.exit_code == 1 and "ABORTED" in stale.stderr
    assert "version = 1" in (server.profiles_dir / "test_leads.toml").read_text()

    promoted = cli("profiles", "promote", "test_leads", "--version", "2").stdout
    assert "promoted test_leads v1 -> v2" in promoted and "tier changes" in promoted
    assert (server.profiles_dir / "test_leads.toml").read_text() == candidate.read_text()
    [listed] = cli.json("profiles", "list")
    assert (listed["version"], listed["shadow"]) == (2, None)

    nothing = cli("profiles", "promote", "test_leads", ok=False)
    assert nothing.exit_code == 1 and "test_leads@shadow" in nothing.stderr
    assert "no staged shadow" in cli("profiles", "discard", "test_leads").stdout
    cli("profiles", "stage", str(_candidate(server, tmp_path / "v3.toml", version=3)))
    [dropped] = cli.json("profiles", "discard", "test_leads")
    assert dropped == {"name": "test_leads", "deleted": True, "shadow_version": 3}


def test_a_bad_candidate_is_reported_by_line_and_not_staged(
    server: ServerHandle, tmp_path: Path
) -> None:
    cli = Cli(server.target)
    bad = _candidate(server, tmp_path / "bad.toml", version=1)
    bad.write_text(bad.read_text().replace('aggregate = "count"', 'aggregate = "sometimes"'))
    result = cli("profiles", "stage", str(bad), ok=False)
    assert result.exit_code == 1
    assert "candidate not staged" in result.stderr
    line = bad.read_text().splitlines().index('aggregate = "sometimes"') + 1
    assert f"{bad}:{line}: signals[0].aggregate: unknown aggregate 'sometimes'" in result.stderr
    good_but_old = _candidate(server, tmp_path / "old.toml", version=1)
    result = cli("profiles", "stage", str(good_but_old), ok=False)
    assert f"{good_but_old}:4: profile.version: version 1 must be higher" in result.stderr
    [listed] = cli.json("profiles", "list")
    assert listed["shadow"] is None
