"""Shared world and calls of the shadow-profile RPC tests (test_shadow_staging.py and
test_shadow_promotion.py), kept in one place so both files score the same contacts.

The profile is tests/rpc/profiles/test_leads.toml in a private copy (promotion rewrites
the file): 10 points per page view (cap 50) and 50 for a demo request; the candidate
doubles the page-view weight, so scores are computable by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.rpc.conftest import Stubs, track

SHADOW = "test_leads@shadow"
N = 120  # stored contacts


def views_of(i: int) -> int:
    return i % 6


def demo_of(i: int) -> bool:
    return i % 4 == 0


def expected(version: int, views: int, demo: bool) -> float:
    """test_leads v1 (10 per view) and the candidate v2 (20 per view), by hand."""
    return float(min({1: 10, 2: 20}[version] * views, 50) + (50 if demo else 0))


def tier_of(score: float) -> str:
    return "hot" if score >= 70 else "warm" if score >= 40 else "cold"


def candidate(profiles_dir: Path, version: int = 2, weight: int = 20) -> str:
    text = (profiles_dir / "test_leads.toml").read_text()
    changed = text.replace("version = 1\n", f"version = {version}\n", 1)
    return changed.replace("weight = 10\n", f"weight = {weight}\n", 1)


def ingest(stubs: Stubs, events: list[types_pb2.Event]) -> ev.IngestEventsResponse:
    return stubs.events.IngestEvents(iter([ev.IngestEventsRequest(events=events)]))


def world(stubs: Stubs, n: int = N) -> dict[str, tuple[int, bool]]:
    """n contacts (views, demo), one sent without a kind (a contact by default) with one
    view, one account."""
    events: list[types_pb2.Event] = []
    truth: dict[str, tuple[int, bool]] = {}
    for i in range(n):
        entity = f"c{i:03d}"
        truth[entity] = (views_of(i), demo_of(i))
        events += [track(entity) for _ in range(views_of(i))]
        if demo_of(i):
            events.append(track(entity, "form_submit"))
        if not views_of(i) and not demo_of(i):
            events.append(track(entity, "email_open"))  # stored, scores 0
    unknown = track("u-nokind")
    unknown.entity_kind = ""
    account = track("acct-1")
    account.entity_kind = "account"
    truth["u-nokind"] = (1, False)
    ingest(stubs, [*events, unknown, account])
    return truth


def stage(stubs: Stubs, toml: str, filename: str = "cand.toml") -> pb.StageProfileResponse:
    return stubs.profiles.StageProfile(pb.StageProfileRequest(toml=toml, filename=filename))


def summary(stubs: Stubs) -> pb.ProfileSummary:
    [profile] = [
        p
        for p in stubs.profiles.ListProfiles(pb.ListProfilesRequest()).profiles
        if p.name == "test_leads"
    ]
    return profile


def stored(stubs: Stubs, key: str) -> dict[str, tuple[float, str, int]]:
    """White-box: every stored score of a profile key, as (score, tier, version)."""
    store = stubs.handle.service.store
    rows = stubs.handle.call(lambda: store.rank(key, limit=10_000, include_disqualified=True))
    return {r.entity_id: (r.score, r.tier, r.profile_version) for r in rows}


def rank_all(stubs: Stubs, profile: str) -> list[types_pb2.Score]:
    request = sc.RankEntitiesRequest(profile=profile, page_size=1000)
    return list(stubs.scoring.RankEntities(request).scores)


def error_of(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value
