"""Telemetry with in-memory exporters: a span per RPC (calls refused for want of a token
included), durations per method and status, and the ingest counters. OpenTelemetry sets
global providers once per process, so the calls run in a fresh interpreter
(telemetry_probe.py) that prints what it recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from prioscore.server.profiles import ProfileRegistry
from tests.ops.conftest import PROFILES, ROOT

# Span names follow the OpenTelemetry RPC conventions: "$package.$service/$method".
SCORE = "prioscore.v1.ScoringService/ScoreEntities"
INGEST = "prioscore.v1.EventService/IngestEvents"
RANK = "prioscore.v1.ScoringService/RankEntities"
STREAM = "prioscore.v1.ScoringService/StreamScores"


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.ops.telemetry_probe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def spans_named(recorded: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for s in recorded["spans"] if s["name"] == name]


def test_the_probe_made_the_calls_it_reports_on(recorded: dict[str, Any]) -> None:
    assert recorded["calls"] == {
        "ingest": "accepted=6 changes=3",
        "redelivery": "duplicates=2",
        "bad_score": "INVALID_ARGUMENT",
        "stream": "responses=2",
        "no_token": "UNAUTHENTICATED",
    }


def test_each_rpc_has_a_server_span_named_after_its_method(recorded: dict[str, Any]) -> None:
    counts = {name: len(spans_named(recorded, name)) for name in (SCORE, INGEST, RANK, STREAM)}
    assert counts == {SCORE: 2, INGEST: 2, RANK: 2, STREAM: 1}
    assert all(s["kind"] == "SERVER" for s in recorded["spans"] if "/" in s["name"])
    ok_score, bad_score = spans_named(recorded, SCORE)
    attributes = ok_score["attributes"]
    assert attributes["network.peer.address"] == "127.0.0.1"
    assert isinstance(attributes.pop("network.peer.port"), int)
    assert attributes == {
        "rpc.system": "grpc",
        "rpc.service": "prioscore.v1.ScoringService",
        "rpc.method": "ScoreEntities",
        "rpc.grpc.status_code": 0,
        "network.peer.address": "127.0.0.1",
        "prioscore.profile": "lead_qualification",
        "prioscore.batch_size": 4,
    }
    assert ok_score["status"] == "UNSET"
    # The rejected call still names its profile and its status.
    assert bad_score["status"] == "ERROR"
    assert bad_score["attributes"]["prioscore.profile"] == "no_such_profile"
    assert bad_score["attributes"]["rpc.grpc.status_code"] == 3  # INVALID_ARGUMENT
    first, second = spans_named(recorded, INGEST)
    assert first["attributes"]["prioscore.batch_size"] == 6
    assert second["attributes"]["prioscore.batch_size"] == 2
    assert "prioscore.profile" in first["attributes"]
    rank, refused = spans_named(recorded, RANK)
    assert rank["attributes"]["prioscore.profile"] == "lead_qualification"
    assert refused["status"] == "ERROR"  # the auth interceptor's refusal is observed too
    [stream] = spans_named(recorded, STREAM)
    assert stream["attributes"]["prioscore.profile"] == "lead_qualification"


def test_service_spans_are_children_of_the_rpc_span(recorded: dict[str, Any]) -> None:
    rpc_ids = {s["span_id"] for s in spans_named(recorded, INGEST)}
    ingest = spans_named(recorded, "ingest")
    assert len(ingest) == 2
    assert {s["parent_id"] for s in ingest} == rpc_ids


def test_stream_scores_span_has_a_batch_size(recorded: dict[str, Any]) -> None:
    [stream] = spans_named(recorded, STREAM)
    assert stream["attributes"]["prioscore.batch_size"] == 10  # rows over both messages


def test_duration_histogram_per_method_and_status(recorded: dict[str, Any]) -> None:
    points = {
        (
            f"{p['attributes']['rpc.service']}/{p['attributes']['rpc.method']}",
            p["attributes"]["rpc.grpc.status_code"],
        ): p["count"]
        for p in recorded["metrics"]["rpc.server.duration"]
    }
    assert all(
        p["attributes"]["rpc.system"] == "grpc" for p in recorded["metrics"]["rpc.server.duration"]
    )
    assert points == {
        (INGEST, 0): 2,
        (SCORE, 0): 1,
        (SCORE, 3): 1,  # INVALID_ARGUMENT
        (RANK, 0): 1,
        (RANK, 16): 1,  # UNAUTHENTICATED
        (STREAM, 0): 1,
    }


def test_ingest_counters_move(recorded: dict[str, Any]) -> None:
    def total(name: str) -> float:
        return sum(p["value"] for p in recorded["metrics"][name])

    assert total("prioscore.events.ingested") == 6
    assert total("prioscore.events.duplicates") == 2
    assert total("prioscore.tier_changes") == 3  # three new contacts got their first tier
    # Each ingest rescored its contacts (3, then 2) under every contact profile.
    per_entity = sum(p.entity == "contact" for p in ProfileRegistry.from_directory(PROFILES).all())
    assert total("prioscore.entities.scored") == 5 * per_entity
