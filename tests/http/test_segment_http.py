"""The Segment HTTP tracking API over real HTTP on 127.0.0.1: every endpoint, basic auth
with a write key, gzip bodies, Segment's size limits, 400s naming the field, and an
official Segment SDK from PyPI delivering calls that score."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from segment.analytics import Client

from tests.http.conftest import WRITE_KEY, Http
from tests.segment.calls import T0, documented_calls, iso


def _count(http: Http) -> int:
    return http.handle.call(lambda: http.handle.service.store.count_events())


def test_each_endpoint_stores_its_call(http: Http) -> None:
    http.handle.clock.set(T0)
    for call in documented_calls():
        kind = call.pop("type")
        assert http.post(f"/v1/{kind}", call) == (200, {"success": True}), kind
    assert _count(http) == 6
    leads = http.handle.call(
        lambda: http.handle.service.store.get_scores("lead_qualification", ["u-1", "anon-1"])
    )
    assert set(leads) == {"u-1"} and leads["u-1"].score > 25


def test_batch_gzip_and_redelivery(http: Http) -> None:
    http.handle.clock.set(T0)
    body = {"batch": documented_calls(), "sentAt": iso(T0)}
    assert http.post("/v1/batch", body, zipped=True) == (200, {"success": True})
    assert http.post("/v1/batch", body) == (200, {"success": True})  # deduped
    assert _count(http) == 6


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wk-unknown", 401), ("wk-reader", 401)])
def test_write_key_is_required_and_must_hold_events_write(
    http: Http, key: str | None, status: int
) -> None:
    code, body = http.post("/v1/batch", {"batch": documented_calls()}, key=key)
    assert code == status and body["success"] is False and body["message"]
    assert _count(http) == 0


def test_bad_bodies_get_400_naming_the_field_and_write_nothing(http: Http) -> None:
    calls = documented_calls()
    calls[2] = {**calls[2], "userId": None, "anonymousId": None}
    calls[4] = {**calls[4], "groupId": ""}
    code, body = http.post("/v1/batch", {"batch": calls})
    assert code == 400
    assert {e["field"] for e in body["errors"]} == {"batch[2].userId", "batch[4].groupId"}
    code, body = http.post("/v1/track", {"userId": "u", "timestamp": "soon"})
    assert code == 400
    assert {e["field"] for e in body["errors"]} == {"timestamp"}  # the first problem of a call
    code, body = http.post("/v1/track", {"userId": "u"})
    assert code == 400 and body["errors"] == [
        {"field": "event", "description": "required for track (a non-empty string)"}
    ]
    assert http.post("/v1/batch", None, raw=b"{oops")[0] == 400
    assert http.post("/v1/batch", None, raw=b"not gzip", zipped=False)[0] == 400
    code, body = http.post("/v1/batch", {"calls": []})
    assert code == 400 and body["errors"][0]["field"] == "batch"
    assert _count(http) == 0


def test_segment_size_limits(http: Http) -> None:
    big = {"type": "track", "userId": "u", "event": "e", "properties": {"blob": "x" * 40_000}}
    code, body = http.post("/v1/batch", {"batch": [big]})
    assert code == 400 and body["errors"][0]["field"] == "batch[0]"
    assert http.post("/v1/track", big)[0] == 400  # one call: 32 KB
    many = [{**big, "properties": {"blob": "x" * 20_000}} for _ in range(30)]
    assert http.post("/v1/batch", {"batch": many})[0] == 400  # 600 KB > 500 KB
    bomb = json.dumps({"batch": many}).encode()
    assert http.post("/v1/batch", None, raw=bomb, zipped=True)[0] == 400  # small gzip, large body
    assert _count(http) == 0


def test_the_official_segment_sdk_delivers_calls_that_score(http: Http) -> None:
    http.handle.clock.set(T0)
    errors: list[Exception] = []
    client = Client(
        WRITE_KEY,
        host=http.url,
        sync_mode=True,
        gzip=True,
        max_retries=0,
        on_error=lambda error, _batch: errors.append(error),
    )
    at = datetime.fromtimestamp(T0 - 60, UTC)  # the SDK stamps each call; the test's "now"
    client.page(
        anonymous_id="visitor", name="Pricing", properties={"path": "/pricing"}, timestamp=at
    )
    client.track(
        anonymous_id="visitor",
        event="form_submit",
        properties={"form": "demo_request"},
        timestamp=at,
    )
    client.identify(user_id="lee", anonymous_id="visitor", traits={"seniority": "vp"}, timestamp=at)
    client.group(user_id="lee", group_id="globex", traits={"plan": "pro"}, timestamp=at)
    client.alias(previous_id="visitor", user_id="lee", timestamp=at)
    client.flush()
    assert errors == []
    store = http.handle.service.store
    leads, churn, events = http.handle.call(
        lambda: (
            store.get_scores("lead_qualification", ["lee", "visitor"]),
            store.get_scores("churn_risk", ["globex"]),
            store.count_events("lee"),
        )
    )
    assert events == 5 and set(leads) == {"lee"} and leads["lee"].score > 25
    assert set(churn) == {"globex"}
