"""tier_change_response fills its TierChange in place: the message must be the one the
fields name, built the plain way (a TierChange with its Timestamp, copied in), for every
cause and for times at and around the epoch."""

from __future__ import annotations

import math

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from prioscore.server.rpc.convert import tier_change_response
from prioscore.server.store import Cause, TierChangeRecord
from prioscore.v1 import scoring_service_pb2, types_pb2

CAUSES = {
    "": types_pb2.TIER_CHANGE_CAUSE_UNSPECIFIED,
    Cause.EVENT.value: types_pb2.TIER_CHANGE_CAUSE_EVENT,
    Cause.CLOCK.value: types_pb2.TIER_CHANGE_CAUSE_CLOCK,
    Cause.RELOAD.value: types_pb2.TIER_CHANGE_CAUSE_RELOAD,
    Cause.PROMOTION.value: types_pb2.TIER_CHANGE_CAUSE_PROMOTION,
    Cause.BACKFILL.value: types_pb2.TIER_CHANGE_CAUSE_BACKFILL,
    Cause.ENTITY_UPDATE.value: types_pb2.TIER_CHANGE_CAUSE_ENTITY_UPDATE,
    Cause.ERASURE.value: types_pb2.TIER_CHANGE_CAUSE_ERASURE,
}


def _record(ts: float, cause: str) -> TierChangeRecord:
    return TierChangeRecord(
        7, "lead-1", "lead_qualification", "", "hot", 0.0, 81.5, ts, "m-9", cause
    )


@pytest.mark.parametrize("cause", sorted(CAUSES))
@pytest.mark.parametrize("ts", [0.0, -1.25, 1.5e-10, 1_700_000_000.123456, 253_402_300_799.5])
def test_a_change_is_the_message_its_fields_name(ts: float, cause: str) -> None:
    record = _record(ts, cause)
    whole = math.floor(ts)
    expected = scoring_service_pb2.WatchTierChangesResponse(
        change=types_pb2.TierChange(
            entity_id="lead-1",
            profile="lead_qualification",
            previous_tier="",
            tier="hot",
            previous_score=0.0,
            score=81.5,
            time=Timestamp(seconds=whole, nanos=round((ts - whole) * 1e9) % 1_000_000_000),
            cause_message_id="m-9",
            account_id="acme",
            change_id=7,
            cause=CAUSES[cause],
        )
    )
    response = tier_change_response(record, "acme")
    assert response == expected
    assert response.change.HasField("time")  # also at the epoch
    assert response.SerializeToString() == expected.SerializeToString()


def test_a_stored_cause_that_names_none_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a valid Cause"):
        tier_change_response(_record(1.0, "gremlins"))
