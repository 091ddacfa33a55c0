"""Event builders, time parsing and the bytes encoding of StreamScores — no server needed."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from prioscore.clients import events
from prioscore.clients.arrays import encode_stream_request, matrix
from prioscore.v1 import scoring_service_pb2, types_pb2


def test_epoch_seconds_reads_iso_epoch_and_milliseconds() -> None:
    assert events.epoch_seconds("2026-05-01T10:00:00Z") == 1_777_629_600
    assert events.epoch_seconds("2026-05-01T12:00:00+02:00") == 1_777_629_600
    assert events.epoch_seconds("2026-05-01T10:00:00") == 1_777_629_600  # naive = UTC
    assert events.epoch_seconds(1_777_629_600_000) == 1_777_629_600  # ms
    assert events.epoch_seconds("1777629600.5") == 1_777_629_600.5
    assert events.epoch_seconds(datetime(2026, 5, 1, 10, tzinfo=UTC)) == 1_777_629_600
    with pytest.raises(ValueError):
        events.epoch_seconds("yesterday")


def test_derived_message_ids_are_stable_and_content_based() -> None:
    a = events.track("c1", "login", time=1_700_000_000)
    b = events.track("c1", "login", time=1_700_000_000)
    c = events.track("c1", "login", time=1_700_000_001)
    assert a.message_id == b.message_id != c.message_id
    assert events.track("c1", "login", message_id="mine").message_id == "mine"


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_spliced_stream_request_equals_the_generated_encoding(dtype: type) -> None:
    x = (np.arange(3 * 4) * 1.5).reshape(3, 4).astype(dtype)
    columns = ["a", "b", "c", "d"]
    spliced = encode_stream_request("lead_qualification", 7, x, columns)
    generated = scoring_service_pb2.StreamScoresRequest(
        profile="lead_qualification",
        sequence=7,
        features=matrix(x, columns),
        response_encoding=types_pb2.ARRAY_ENCODING_BYTES,
    )
    assert scoring_service_pb2.StreamScoresRequest.FromString(spliced) == generated
    assert spliced == generated.SerializeToString()
    big = np.random.default_rng(0).random((10_000, 32))  # a multi-byte length varint
    parsed = scoring_service_pb2.StreamScoresRequest.FromString(encode_stream_request("p", 1, big))
    np.testing.assert_array_equal(
        np.frombuffer(parsed.features.data, "<f8").reshape(big.shape), big
    )


def test_identical_events_without_a_time_are_not_merged() -> None:
    """Three identical page views 1.5 s apart are three events: without a time in the
    content, each gets its own id (a retry resends the same messages, so stays deduped)."""
    views = [events.track("c1", "page_view", properties={"url": "/x"}) for _ in range(3)]
    assert len({v.message_id for v in views}) == 3
    timed = [events.track("c1", "page_view", time=1_700_000_000.5) for _ in range(2)]
    assert timed[0].message_id == timed[1].message_id  # the same event, sent twice
