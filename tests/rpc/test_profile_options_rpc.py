"""Profile options through the real server: grid tiers, a scoped profile and alert
hysteresis on ingest, each from a profile written to the server's own directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import profile_service_pb2_grpc
from prioscore.v1 import scoring_service_pb2 as sc
from tests.conftest import ServerHandle
from tests.profiles.test_grid_tiers import GRID
from tests.scenarios.world import World


def serve(start: Callable[..., ServerHandle], tmp_path: Path, name: str, text: str) -> World:
    directory = tmp_path / "profiles"
    directory.mkdir()
    (directory / f"{name}.toml").write_text(text)
    return World(start(directory))


def test_grid_tiers_through_the_server(
    start_grpc_server: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    w = serve(start_grpc_server, tmp_path, "graded", GRID)
    try:
        stub = profile_service_pb2_grpc.ProfileServiceStub(w.channel)
        got = stub.GetProfile(pb.GetProfileRequest(name="graded"))
        assert got.tier_mode == "grid" and list(got.tiers) == []
        assert [t.name for t in got.grid.fit_grades] == ["D", "C", "B", "A"]
        assert [t.threshold for t in got.grid.engagement_levels] == [0, 25, 50, 75]
        assert got.profile.tier_names[-1] == "A1"
        w.entity("vp_idle", "contact", seniority="vp")
        w.did("vp_idle", "contact", "page_view", 0)
        w.entity("intern_busy", "contact", seniority="intern")
        w.did("intern_busy", "contact", "page_view", 0, times=80)
        tiers = {i: s.tier for i, s in w.scores("graded", "vp_idle", "intern_busy").items()}
        assert tiers == {"vp_idle": "A4", "intern_busy": "D1"}
    finally:
        w.channel.close()


SCOPED = """
[profile]
name = "emea_leads"
version = 1
entity = "contact"

[[signals]]
name = "visits"
event = "page_view"
aggregate = "count"
weight = 10
cap = 100

[[scope]]
attribute = "region"
in = ["emea"]
reason = "Outside the EMEA team's territory"

[tiers]
cold = 0
hot = 50
"""


def test_a_scoped_profile_ranks_only_its_segment(
    start_grpc_server: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    w = serve(start_grpc_server, tmp_path, "emea_leads", SCOPED)
    try:
        stub = profile_service_pb2_grpc.ProfileServiceStub(w.channel)
        [scope] = stub.GetProfile(pb.GetProfileRequest(name="emea_leads")).scope
        assert (scope.attribute, list(scope.values)) == ("region", ["emea"])
        for contact, region in (("paris", "emea"), ("boston", "amer"), ("unknown", "")):
            if region:
                w.entity(contact, "contact", region=region)
            w.did(contact, "contact", "page_view", 0, times=6)
        scores = w.scores("emea_leads", "paris", "boston", "unknown")
        assert scores["paris"].tier == "hot" and not scores["paris"].disqualified
        for outside in ("boston", "unknown"):
            assert scores[outside].disqualified and scores[outside].tier == ""
            assert scores[outside].disqualify_reason == "Outside the EMEA team's territory"
        ranked = w.scoring.RankEntities(sc.RankEntitiesRequest(profile="emea_leads"))
        assert [s.entity_id for s in ranked.scores] == ["paris"]
    finally:
        w.channel.close()


HELD = """
[profile]
name = "held"
version = 1
entity = "contact"

[[signals]]
name = "visits"
event = "page_view"
aggregate = "count"
weight = 10
cap = 100

[[signals]]
name = "complaints"
event = "complaint"
aggregate = "count"
weight = -3
cap = 100

[alerts]
margin = 5

[tiers]
cold = 0
hot = 50
"""


def test_ingest_emits_a_tier_change_only_past_the_alert_margin(
    start_grpc_server: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    w = serve(start_grpc_server, tmp_path, "held", HELD)
    try:
        w.did("c", "contact", "page_view", 1, times=6)
        assert w.send().tier_changes == 1  # the first score: "" -> hot
        steps = []
        for complaints in (3, 1, 2):  # 60 -> 51 -> 48 (within 5 of 50) -> 42
            w.did("c", "contact", "complaint", 0, times=complaints)
            reply = w.send()
            [stored] = w.scoring.RankEntities(sc.RankEntitiesRequest(profile="held")).scores
            steps.append((round(stored.score), stored.tier, reply.tier_changes))
        assert steps == [(51, "hot", 0), (48, "hot", 0), (42, "cold", 1)]
    finally:
        w.channel.close()
