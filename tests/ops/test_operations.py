"""What an operator sees of a real server process: the Prometheus scrape endpoint over
HTTP on loopback, JSON log lines, an audit line per administrative action with the
caller's token name, and no traceback when a client cancels a watch stream."""

from __future__ import annotations

import json
import re
import shutil
import signal
import urllib.request
from pathlib import Path

import grpc

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc, profile_service_pb2_grpc, scoring_service_pb2_grpc
from prioscore.v1 import profile_service_pb2 as pr
from prioscore.v1 import scoring_service_pb2 as sc
from tests.ops.conftest import PROFILES, ServerFactory, ServerProcess, ingest_request, page_view

ADMIN = (("authorization", "Bearer ops-secret"),)
_METRICS_LINE = re.compile(r"metrics on (http://127\.0\.0\.1:\d+/metrics)")


def _metrics_url(server: ServerProcess) -> str:
    match = _METRICS_LINE.search(server.log())
    assert match, server.log()
    return match.group(1)


def _start(server_process: ServerFactory, tmp_path: Path) -> ServerProcess:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[[tokens]]\nname = "ops-team"\ntoken = "ops-secret"\nscopes = ["admin"]\n')
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    return server_process(
        None,
        "--profiles",
        str(profiles),
        "--metrics-address",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--tokens-file",
        str(tokens),
    )


def _act(server: ServerProcess) -> None:
    """One of each audited action, an unauthenticated call, and a cancelled watch."""
    with server.channel() as channel:
        events = event_service_pb2_grpc.EventServiceStub(channel)
        profiles = profile_service_pb2_grpc.ProfileServiceStub(channel)
        scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        batch = [page_view(f"m{i}", f"c-{i % 3}") for i in range(6)]
        events.IngestEvents(iter([ingest_request(batch)]), metadata=ADMIN, timeout=10)
        profiles.ReloadProfiles(pr.ReloadProfilesRequest(), metadata=ADMIN, timeout=10)
        text = (PROFILES / "lead_qualification.toml").read_text()
        candidate = re.sub(r"(?m)^version = \d+", "version = 99", text, count=1)
        profiles.StageProfile(pr.StageProfileRequest(toml=candidate), metadata=ADMIN, timeout=30)
        promote = pr.PromoteProfileRequest(name="lead_qualification", shadow_version=99)
        profiles.PromoteProfile(promote, metadata=ADMIN, timeout=30)
        events.EraseEntity(ev.EraseEntityRequest(entity_id="c-1"), metadata=ADMIN, timeout=10)
        try:
            profiles.ReloadProfiles(pr.ReloadProfilesRequest(), timeout=10)  # no token
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        # A replaying watch (the ingest made tier changes): one change received proves the
        # stream is open on the server; then the client cancels it mid-stream.
        request = sc.WatchTierChangesRequest(after_change_id=0)
        watch = scoring.WatchTierChanges(request, metadata=ADMIN, timeout=30)
        assert next(watch).change.change_id > 0
        watch.cancel()


def test_metrics_logs_and_audit_of_a_real_server(
    server_process: ServerFactory, tmp_path: Path
) -> None:
    server = _start(server_process, tmp_path)
    _act(server)
    with urllib.request.urlopen(_metrics_url(server), timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        scraped = reply.read().decode()
    ingest_series = re.search(r"(?m)^prioscore_events_ingested(?:_total)?\{.*\} (\S+)$", scraped)
    assert ingest_series and float(ingest_series.group(1)) == 6, scraped
    rpc_count = re.search(
        r"(?m)^rpc_server_duration_milliseconds_count"
        r'\{[^}]*rpc_method="IngestEvents"[^}]*\} (\S+)$',
        scraped,
    )
    assert rpc_count and float(rpc_count.group(1)) == 1, scraped
    assert 'rpc_service="prioscore.v1.ProfileService"' in scraped
    assert re.search(r"(?m)^prioscore_store_size_bytes\{.*\} [1-9]", scraped), scraped
    assert re.search(r"(?m)^prioscore_tier_changes(?:_total)?\{", scraped), scraped
    # The clock's catch-up sweep at start ran for every bundled profile.
    sweeps = re.findall(r'(?m)^prioscore_clock_sweeps(?:_total)?\{[^}]*profile="(\w+)"', scraped)
    assert {"lead_qualification", "churn_risk"} <= set(sweeps), scraped
    assert re.search(r"(?m)^prioscore_clock_sweep_duration_seconds_count\{", scraped), scraped

    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    log = server.log()
    assert "Traceback" not in log and "Failed to detach context" not in log, log
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    audits = [line["audit"] for line in lines if "audit" in line]
    by_action = {a["action"]: a for a in audits}
    assert set(by_action) == {"reload", "stage", "promote", "erase", "auth.rejected"}, audits
    for action in ("reload", "stage", "promote", "erase"):
        assert by_action[action]["caller"] == "ops-team", by_action[action]
        assert by_action[action]["peer"].startswith("ipv4:127.0.0.1:")
    assert by_action["promote"]["profile"] == "lead_qualification"
    assert by_action["promote"]["version"] == 99
    assert by_action["erase"]["entity_id"] == "c-1"
    assert by_action["erase"]["events"] == 2
    assert by_action["auth.rejected"]["caller"] == "anonymous"
    assert by_action["auth.rejected"]["status"] == "UNAUTHENTICATED"
