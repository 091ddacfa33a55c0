"""Segment calls as the Segment spec documents them (one of each type), for the gRPC and
HTTP tests: an anonymous visitor browses, identifies, joins a company and is aliased."""

from __future__ import annotations

import json
from typing import Any

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc

T0 = 1_780_000_000.0  # 2026-05-28: the tests pin the server's clock near here
CONTEXT = {
    "ip": "8.8.8.8",
    "library": {"name": "analytics.js", "version": "2.11.1"},
    "page": {"path": "/pricing", "url": "https://example.com/pricing", "title": "Pricing"},
    "userAgent": "Mozilla/5.0",
}


def iso(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def documented_calls(anonymous: str = "anon-1", user: str = "u-1") -> list[dict[str, Any]]:
    """page, screen, track, identify (with the anonymousId), group and alias."""
    return [
        {
            "type": "page",
            "anonymousId": anonymous,
            "name": "Pricing",
            "category": "Docs",
            "properties": {
                "path": "/pricing",
                "url": "https://example.com/pricing",
                "title": "Pricing",
                "utm": {"source": "ads", "campaign": "spring"},
            },
            "context": CONTEXT,
            "messageId": f"{anonymous}-page",
            "originalTimestamp": iso(T0 - 3600),
            "sentAt": iso(T0 - 3600),
        },
        {
            "type": "screen",
            "anonymousId": anonymous,
            "name": "Home",
            "properties": {"variation": "blue"},
            "messageId": f"{anonymous}-screen",
            "timestamp": iso(T0 - 3500),
        },
        {
            "type": "track",
            "anonymousId": anonymous,
            "event": "form_submit",
            "properties": {"form": "demo_request", "value": 2, "seats": 5},
            "context": CONTEXT,
            "messageId": f"{anonymous}-track",
            "timestamp": iso(T0 - 3400),
        },
        {
            "type": "identify",
            "userId": user,
            "anonymousId": anonymous,
            "traits": {
                "email": "peter@example.com",
                "seniority": "vp",
                "employees": 250,
                "address": {"city": "Oslo", "country": "NO"},
            },
            "messageId": f"{user}-identify",
            "timestamp": iso(T0 - 3300),
        },
        {
            "type": "group",
            "userId": user,
            "groupId": "acme",
            "traits": {"name": "Acme", "plan": "enterprise", "employees": 900},
            "messageId": f"{user}-group",
            "timestamp": iso(T0 - 3200),
        },
        {
            "type": "alias",
            "previousId": "old-crm-7",
            "userId": user,
            "messageId": f"{user}-alias",
            "timestamp": iso(T0 - 3100),
        },
    ]


def send(
    channel: Any, calls: list[dict[str, Any]], per_message: int = 100
) -> ev.IngestSegmentResponse:
    """IngestSegment over a real channel, per_message calls in each stream message."""
    stub = event_service_pb2_grpc.EventServiceStub(channel)
    texts = [json.dumps(c) for c in calls]
    requests = [
        ev.IngestSegmentRequest(calls=texts[i : i + per_message])
        for i in range(0, len(texts), per_message)
    ]
    return stub.IngestSegment(iter(requests), timeout=30)
