"""Run by test_telemetry.py in a fresh interpreter: OpenTelemetry lets a process install its
global tracer and meter providers once, so the check owns a process of its own.

Configures telemetry with in-memory exporters, serves on 127.0.0.1:0, makes a few calls
and prints what was recorded as JSON: {"calls": {...}, "spans": [...], "metrics": {...}}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from prioscore.server.config import Settings
from prioscore.server.handlers import build_handlers
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.profiles.bundled import DIRECTORY as BUNDLED_PROFILES
from prioscore.server.rpc.server import start_server
from prioscore.server.store import Store
from prioscore.server.telemetry import configure
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc, scoring_service_pb2_grpc, types_pb2
from prioscore.v1 import scoring_service_pb2 as sc

PROFILES = BUNDLED_PROFILES
AUTH = (("authorization", "Bearer probe"),)


def _view(n: int, entity: str) -> types_pb2.Event:
    return types_pb2.Event(
        message_id=f"t{n}",
        kind=types_pb2.EVENT_KIND_TRACK,
        entity_id=entity,
        entity_kind="contact",
        event="page_view",
        properties={"url": "/pricing"},
    )


async def exercise(target: str, n_signals: int) -> dict[str, str]:
    """The calls whose telemetry the test checks: method → status code name."""
    outcomes: dict[str, str] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        events = event_service_pb2_grpc.EventServiceStub(channel)
        batch = [_view(n, f"c{n % 3}") for n in range(6)]
        reply = await events.IngestEvents(
            iter([ev.IngestEventsRequest(events=batch)]), metadata=AUTH
        )
        outcomes["ingest"] = f"accepted={reply.accepted} changes={reply.tier_changes}"
        again = await events.IngestEvents(
            iter([ev.IngestEventsRequest(events=batch[:2])]), metadata=AUTH
        )
        outcomes["redelivery"] = f"duplicates={again.duplicates}"
        inline = sc.InlineEvents(events=batch[:4])
        await scoring.ScoreEntities(
            sc.ScoreEntitiesRequest(profile="lead_qualification", inline_events=inline),
            metadata=AUTH,
        )
        try:
            await scoring.ScoreEntities(
                sc.ScoreEntitiesRequest(profile="no_such_profile"), metadata=AUTH
            )
        except grpc.aio.AioRpcError as error:
            outcomes["bad_score"] = error.code().name
        rank = sc.RankEntitiesRequest(profile="lead_qualification")
        await scoring.RankEntities(rank, metadata=AUTH)
        try:
            await scoring.RankEntities(rank)  # no token
        except grpc.aio.AioRpcError as error:
            outcomes["no_token"] = error.code().name
        matrix = types_pb2.Matrix(
            dtype=types_pb2.DTYPE_FLOAT64,
            shape=[5, n_signals],
            data=np.ones((5, n_signals), "<f8").tobytes(),
        )
        stream = scoring.StreamScores(
            iter(
                sc.StreamScoresRequest(profile="lead_qualification", sequence=i, features=matrix)
                for i in range(2)
            ),
            metadata=AUTH,
        )
        outcomes["stream"] = f"responses={len([r async for r in stream])}"
    return outcomes


def _point(point: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"attributes": dict(point.attributes or {})}
    if hasattr(point, "count"):
        found["count"] = point.count
    if hasattr(point, "value"):
        found["value"] = point.value
    return found


async def main() -> dict[str, Any]:
    spans = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    telemetry = configure(span_exporter=spans, metric_reader=reader)
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens.toml"
        tokens.write_text('[[tokens]]\ntoken = "probe"\nscopes = ["admin"]\n')
        settings = Settings(
            address="127.0.0.1:0", db=Path(tmp) / "t.db", profiles=PROFILES, tokens_file=tokens
        )
        handlers = build_handlers(Store(settings.db), ProfileRegistry.from_directory(PROFILES))
        running = await start_server(handlers, settings)
        try:
            lead = handlers.registry.get("lead_qualification")
            assert lead is not None
            calls = await exercise(running.target, len(lead.signals))
        finally:
            await running.stop(grace=1.0)
            handlers.close()
    metrics: dict[str, list[dict[str, Any]]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points = metrics.setdefault(metric.name, [])
                points.extend(_point(p) for p in metric.data.data_points)
    finished = [
        {
            "name": span.name,
            "kind": span.kind.name,
            "status": span.status.status_code.name,
            "attributes": dict(span.attributes or {}),
            "span_id": span.context.span_id if span.context else 0,
            "parent_id": span.parent.span_id if span.parent else 0,
        }
        for span in spans.get_finished_spans()
    ]
    telemetry.shutdown()
    return {"calls": calls, "spans": finished, "metrics": metrics}


if __name__ == "__main__":
    json.dump(asyncio.run(main()), sys.stdout, default=str)
