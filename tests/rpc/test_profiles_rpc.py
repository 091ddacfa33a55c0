"""ProfileService, health and reflection through the generated stubs on a real server."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import scoring_service_pb2 as sc
from tests.rpc.conftest import Stubs

BROKEN = """
[profile]
name = "broken"
version = 1
entity = "contact"

[[signals]]
name = "visits"
event = "page_view"
aggregate = "sometimes"
weight = 10
cap = 10

[tiers]
cold = 0
"""


def test_list_and_get_profile(stubs: Stubs) -> None:
    listed = stubs.profiles.ListProfiles(pb.ListProfilesRequest())
    assert [p.name for p in listed.profiles] == ["test_leads"]
    got = stubs.profiles.GetProfile(pb.GetProfileRequest(name="test_leads"))
    assert got.profile.signal_names == ["visits", "demo"]
    assert [(t.name, t.threshold) for t in got.tiers] == [("cold", 0), ("warm", 40), ("hot", 70)]
    assert "[[signals]]" in got.toml
    with pytest.raises(grpc.RpcError) as caught:
        stubs.profiles.GetProfile(pb.GetProfileRequest(name="missing"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_validate_reports_file_line_and_key(stubs: Stubs) -> None:
    result = stubs.profiles.ValidateProfile(
        pb.ValidateProfileRequest(toml=BROKEN, filename="broken.toml")
    )
    assert not result.valid
    [issue] = [i for i in result.issues if i.key == "signals[0].aggregate"]
    assert issue.file == "broken.toml" and issue.line == 10 and "sometimes" in issue.reason


def test_bad_reload_keeps_the_old_profiles_serving(stubs: Stubs, profiles_dir: Path) -> None:
    good = profiles_dir / "test_leads.toml"
    (profiles_dir / "broken.toml").write_text(BROKEN)
    good.write_text(good.read_text().replace("version = 1", "version = 2"))
    result = stubs.profiles.ReloadProfiles(pb.ReloadProfilesRequest())
    assert not result.applied and any(i.file.endswith("broken.toml") for i in result.issues)
    got = stubs.profiles.GetProfile(pb.GetProfileRequest(name="test_leads"))
    assert got.profile.version == 1  # neither the bad file nor the good edit went live
    rank = stubs.scoring.RankEntities(sc.RankEntitiesRequest(profile="test_leads"))
    assert rank.total_size == 0

    (profiles_dir / "broken.toml").unlink()
    fixed = stubs.profiles.ReloadProfiles(pb.ReloadProfilesRequest())
    assert fixed.applied and list(fixed.loaded) == ["test_leads"]
    assert stubs.profiles.GetProfile(pb.GetProfileRequest(name="test_leads")).profile.version == 2


def test_health_and_reflection_are_on(stubs: Stubs) -> None:
    health = health_pb2_grpc.HealthStub(stubs.channel)
    for service in ("", "prioscore.v1.ScoringService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(stubs.channel)
    [answer] = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for s in answer.list_services_response.service}
    assert {
        "prioscore.v1.ScoringService",
        "prioscore.v1.EventService",
        "prioscore.v1.ProfileService",
        "grpc.health.v1.Health",
    } <= names
