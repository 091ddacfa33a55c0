"""Quantile tiers of stored entities are cut on the whole stored population."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc, scoring_service_pb2_grpc
from prioscore.v1 import scoring_service_pb2 as sc
from tests.conftest import ServerHandle
from tests.rpc.conftest import track

QUARTILES = """
[profile]
name = "usage_quartiles"
version = 1
entity = "contact"

[scoring]
max_points = 100

[[signals]]
name = "visits"
event = "page_view"
aggregate = "count"
weight = 1
cap = 100

[tiers]
mode = "quantile"
q1 = 0
q2 = 0.25
q3 = 0.5
q4 = 0.75
"""


def test_one_entity_per_ingest_is_tiered_against_everyone(
    start_grpc_server: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    profiles = tmp_path / "quantile_profiles"
    profiles.mkdir()
    (profiles / "usage_quartiles.toml").write_text(QUARTILES)
    handle = start_grpc_server(profiles)
    with handle.channel() as channel:
        events = event_service_pb2_grpc.EventServiceStub(channel)
        scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        population = [track(f"e{n:02d}") for n in range(1, 21) for _ in range(n)]
        events.IngestEvents(iter([ev.IngestEventsRequest(events=population)]))
        # Late arrivals, one entity per request: cut points taken from a one-entity batch
        # would put each in the top tier; against the population they land where they rank.
        events.IngestEvents(iter([ev.IngestEventsRequest(events=[track("late_low")])]))
        many = [track("late_high") for _ in range(30)]
        events.IngestEvents(iter([ev.IngestEventsRequest(events=many)]))
        ranked = scoring.RankEntities(
            sc.RankEntitiesRequest(profile="usage_quartiles", page_size=100)
        )
        alone = scoring.ScoreEntities(
            sc.ScoreEntitiesRequest(
                profile="usage_quartiles", stored=sc.StoredEntities(entity_ids=["e02"])
            )
        )
    tiers = {s.entity_id: s.tier for s in ranked.scores}
    assert tiers["late_low"] == "q1" and tiers["late_high"] == "q4"
    assert tiers["e01"] == "q1" and tiers["e20"] == "q4" and tiers["e10"] == "q2"
    assert [s.tier for s in alone.scores] == ["q1"]  # not the top tier of a set of one
