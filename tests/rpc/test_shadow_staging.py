"""Shadow profiles through the generated stubs on a real server, up to promotion:
StageProfile, scoring on every ingest, RankEntities / CompareProfiles on the shadow,
invalid candidates, replacing and deleting a shadow, reloads and restarts.

The world and the hand-computed scores are in shadow_helpers.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from prioscore.server.config import Settings
from prioscore.server.handlers import build_handlers
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.rpc.server import RunningServer, start_server
from prioscore.server.store import Store
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc as ev_grpc
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import profile_service_pb2_grpc as pb_grpc
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import scoring_service_pb2_grpc as sc_grpc
from tests.conftest import ServerHandle
from tests.rpc.conftest import Stubs, field_violations, track
from tests.rpc.shadow_helpers import (
    SHADOW,
    N,
    candidate,
    error_of,
    expected,
    ingest,
    rank_all,
    stage,
    stored,
    summary,
    tier_of,
    world,
)

# -- staging and scoring -------------------------------------------------------------------


def test_stage_scores_every_stored_entity_then_every_ingest(
    stubs: Stubs, profiles_dir: Path
) -> None:
    truth = world(stubs)
    toml = candidate(profiles_dir)
    staged = stage(stubs, toml)
    assert (staged.shadow.name, staged.shadow.version, staged.shadow.entity) == (
        "test_leads",
        2,
        "contact",
    )
    assert staged.shadow.source == "cand.toml"
    assert staged.entities_scored == N + 1  # the contacts and the one sent without a kind

    listed = summary(stubs)
    assert (listed.version, listed.shadow_version) == (1, 2)
    got = stubs.profiles.GetProfile(pb.GetProfileRequest(name="test_leads"))
    assert got.profile.shadow_version == 2 and got.profile.version == 1
    shadow = stubs.profiles.GetProfile(pb.GetProfileRequest(name=SHADOW))
    assert (shadow.profile.name, shadow.profile.version, shadow.toml) == (SHADOW, 2, toml)
    assert [s.weight for s in shadow.signals] == [20, 50]

    active, under_shadow = stored(stubs, "test_leads"), stored(stubs, SHADOW)
    assert set(under_shadow) == set(truth) and "acct-1" not in under_shadow
    for entity, (views, demo) in truth.items():
        assert active[entity] == (expected(1, views, demo), tier_of(expected(1, views, demo)), 1)
        v2 = expected(2, views, demo)
        assert under_shadow[entity] == (v2, tier_of(v2), 2), entity

    # Every ingest scores both; only the active profile gets history and tier changes.
    before = stubs.handle.call(lambda: stubs.handle.service.store.last_tier_change_id())
    ingest(stubs, [track("c001"), track("c001"), track("new-1"), track("new-1", "form_submit")])
    truth["c001"] = (3, False)
    truth["new-1"] = (1, True)
    active, under_shadow = stored(stubs, "test_leads"), stored(stubs, SHADOW)
    for entity in ("c001", "new-1"):
        views, demo = truth[entity]
        assert active[entity][:2] == (expected(1, views, demo), tier_of(expected(1, views, demo)))
        assert under_shadow[entity][:2] == (
            expected(2, views, demo),
            tier_of(expected(2, views, demo)),
        )
    store = stubs.handle.service.store
    changes = stubs.handle.call(lambda: store.tier_changes_since(before))
    assert changes and {c.profile for c in changes} == {"test_leads"}
    history = stubs.handle.call(lambda: store.score_history("c001", SHADOW, limit=10))
    assert history == []

    # RankEntities on the shadow key ranks the shadow's stored scores.
    ranked = rank_all(stubs, SHADOW)
    want = sorted(((expected(2, *vd), e) for e, vd in truth.items()), key=lambda t: (-t[0], t[1]))
    assert [(s.score, s.entity_id) for s in ranked] == want
    assert {(s.profile, s.profile_version) for s in ranked} == {(SHADOW, 2)}
    hot = stubs.scoring.RankEntities(sc.RankEntitiesRequest(profile=SHADOW, tiers=["hot"]))
    assert hot.total_size == sum(tier_of(expected(2, *vd)) == "hot" for vd in truth.values())
    # ...and ScoreEntities scores with the candidate (read-only).
    scores = stubs.scoring.ScoreEntities(
        sc.ScoreEntitiesRequest(profile=SHADOW, stored=sc.StoredEntities(entity_ids=["c005"]))
    ).scores
    assert [(s.profile, s.profile_version, s.score) for s in scores] == [
        (SHADOW, 2, expected(2, *truth["c005"]))
    ]


def test_compare_against_the_staged_shadow(stubs: Stubs, profiles_dir: Path) -> None:
    world(stubs)
    compare = stubs.profiles.CompareProfiles
    error = error_of(
        lambda: compare(pb.CompareProfilesRequest(profile="test_leads", candidate_shadow=True))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND and SHADOW in (error.details() or "")

    toml = candidate(profiles_dir)
    stage(stubs, toml)
    by_shadow = compare(
        pb.CompareProfilesRequest(profile="test_leads", candidate_shadow=True, k=20)
    )
    by_toml = compare(pb.CompareProfilesRequest(profile="test_leads", candidate_toml=toml, k=20))
    assert by_shadow.entities == N + 1
    assert by_shadow.SerializeToString(deterministic=True) == by_toml.SerializeToString(
        deterministic=True
    )
    assert by_shadow.tier_moves_total > 0
    for move in by_shadow.tier_moves:  # doubling the view weight only moves entities up
        assert ["cold", "warm", "hot"].index(move.to_tier) > ["cold", "warm", "hot"].index(
            move.from_tier
        )
    missing = error_of(lambda: compare(pb.CompareProfilesRequest(candidate_shadow=True)))
    assert "profile" in field_violations(missing)


BAD_AGGREGATE = ('aggregate = "count"', 'aggregate = "sometimes"')
SCORE_SIGNAL = """
[[signals]]
name = "account_heat"
scores = "{target}"
of = "account"
aggregate = "score"
weight = 0.5
cap = 20

[[disqualify]]"""
ACCOUNTS = """# Accounts scored by their hottest test lead.
[profile]
name = "test_accounts"
version = 1
entity = "account"

[[signals]]
name = "hottest"
scores = "test_leads"
of = "members"
aggregate = "max"
weight = 1
cap = 100

[tiers]
cold = 0
hot = 50
"""


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_invalid_candidates_name_line_and_key_and_stage_nothing(
    stubs: Stubs, profiles_dir: Path
) -> None:
    world(stubs)
    good = candidate(profiles_dir)
    (profiles_dir / "test_accounts.toml").write_text(ACCOUNTS)
    assert stubs.profiles.ReloadProfiles(pb.ReloadProfilesRequest()).applied
    unknown = good.replace("\n[[disqualify]]", SCORE_SIGNAL.format(target="test_acounts"), 1)
    cycle = good.replace("\n[[disqualify]]", SCORE_SIGNAL.format(target="test_accounts"), 1)
    cases = [
        (good.replace(*BAD_AGGREGATE, 1), "signals[0].aggregate", "sometimes", "cand.toml"),
        (
            good.replace('"test_leads"', '"test_leedz"', 1),
            "profile.name",
            "test_leads",
            "cand.toml",
        ),
        (good.replace('"contact"', '"account"', 1), "profile.entity", "contact", "cand.toml"),
        (candidate(profiles_dir, version=1), "profile.version", "higher", "cand.toml"),
        (unknown, "signals[2].scores", "did you mean 'test_accounts'", "cand.toml"),
        (cycle, "signals[0].scores", "test_accounts → test_leads", "test_accounts.toml"),
    ]
    for toml, key, words, file in cases:
        error = error_of(lambda t=toml: stage(stubs, t))  # type: ignore[misc]
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, key
        violations = field_violations(error)
        assert key in violations, (key, violations)
        description = violations[key]
        assert words in description, description
        # file:line: key: reason, the line being the key's own line in that file
        source = toml if file == "cand.toml" else ACCOUNTS
        fragment = {
            "signals[0].aggregate": "sometimes",
            "profile.name": "name = ",
            "profile.entity": "entity = ",
            "profile.version": "version = ",
            "signals[2].scores": "test_acounts",
            "signals[0].scores": 'scores = "test_leads"',
        }[key]
        assert f"{file}:{_line_of(source, fragment)}: {key}:" in description, description
    assert summary(stubs).shadow_version == 0
    assert stored(stubs, SHADOW) == {}
    store = stubs.handle.service.store
    assert stubs.handle.call(store.shadows) == []
    empty = error_of(lambda: stage(stubs, "  \n"))
    assert "toml" in field_violations(empty)

    # A bad candidate leaves an earlier shadow exactly as it was.
    stage(stubs, good)
    before = stored(stubs, SHADOW)
    error = error_of(
        lambda: stage(stubs, candidate(profiles_dir, version=3).replace(*BAD_AGGREGATE))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert summary(stubs).shadow_version == 2 and stored(stubs, SHADOW) == before


def test_stage_replaces_the_shadow_and_delete_is_idempotent(
    stubs: Stubs, profiles_dir: Path
) -> None:
    truth = world(stubs)
    stage(stubs, candidate(profiles_dir))
    again = stage(stubs, candidate(profiles_dir, version=3, weight=5))
    assert again.shadow.version == 3 and summary(stubs).shadow_version == 3
    rows = stored(stubs, SHADOW)
    for entity, (views, demo) in truth.items():
        assert rows[entity][2] == 3
        assert rows[entity][0] == min(5 * views, 50) + (50 if demo else 0)

    # Erasing an entity erases its shadow score too.
    stubs.events.EraseEntity(ev.EraseEntityRequest(entity_id="c001"))
    assert "c001" not in stored(stubs, SHADOW)

    delete = stubs.profiles.DeleteShadowProfile
    first = delete(pb.DeleteShadowProfileRequest(name="test_leads"))
    assert (first.deleted, first.shadow_version) == (True, 3)
    second = delete(pb.DeleteShadowProfileRequest(name="test_leads"))
    assert (second.deleted, second.shadow_version) == (False, 0)
    assert summary(stubs).shadow_version == 0 and stored(stubs, SHADOW) == {}
    assert stubs.handle.call(stubs.handle.service.store.shadows) == []
    gone = error_of(lambda: rank_all(stubs, SHADOW))
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    # Ingest no longer writes shadow rows.
    ingest(stubs, [track("c002")])
    assert stored(stubs, SHADOW) == {}

    unknown = error_of(lambda: delete(pb.DeleteShadowProfileRequest(name="nope")))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    nameless = error_of(lambda: delete(pb.DeleteShadowProfileRequest()))
    assert nameless.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in field_violations(nameless)


def test_reload_keeps_a_valid_shadow_and_drops_an_outdated_one(
    stubs: Stubs, profiles_dir: Path
) -> None:
    world(stubs)
    stage(stubs, candidate(profiles_dir))
    source = profiles_dir / "test_leads.toml"
    source.write_text(source.read_text().replace("description = ", "# edited\ndescription = "))
    assert stubs.profiles.ReloadProfiles(pb.ReloadProfilesRequest()).applied
    assert summary(stubs).shadow_version == 2 and stored(stubs, SHADOW)

    source.write_text(source.read_text().replace("version = 1", "version = 2"))
    assert stubs.profiles.ReloadProfiles(pb.ReloadProfilesRequest()).applied
    listed = summary(stubs)
    assert (listed.version, listed.shadow_version) == (2, 0)
    assert stored(stubs, SHADOW) == {}
    assert stubs.handle.call(stubs.handle.service.store.shadows) == []


# -- restarts ------------------------------------------------------------------------------


@dataclass
class Restarts:
    """More servers on the first server's SQLite file (and loop), as after a restart."""

    handle: ServerHandle
    running: list[RunningServer] = field(default_factory=list)

    def start(self) -> tuple[RunningServer, Stubs]:
        handle = self.handle

        async def boot() -> RunningServer:
            registry = ProfileRegistry.from_directory(handle.profiles_dir)
            handlers = build_handlers(Store(handle.db), registry)
            settings = Settings(address="127.0.0.1:0", db=handle.db, profiles=handle.profiles_dir)
            return await start_server(handlers, settings)

        running = asyncio.run_coroutine_threadsafe(boot(), handle.loop).result(30)
        self.running.append(running)
        channel = grpc.insecure_channel(running.target)
        return running, Stubs(
            handle,
            channel,
            sc_grpc.ScoringServiceStub(channel),
            ev_grpc.EventServiceStub(channel),
            pb_grpc.ProfileServiceStub(channel),
        )

    def stop_all(self) -> None:
        for running in self.running:
            asyncio.run_coroutine_threadsafe(running.stop(grace=1.0), self.handle.loop).result(30)
            self.handle.call(running.service.store.close)


@pytest.fixture
def restarts(stubs: Stubs) -> Iterator[Restarts]:
    found = Restarts(stubs.handle)
    yield found
    found.stop_all()


def test_a_restart_restores_the_shadow(
    stubs: Stubs, profiles_dir: Path, restarts: Restarts
) -> None:
    truth = world(stubs)
    toml = candidate(profiles_dir)
    stage(stubs, toml)
    before = stored(stubs, SHADOW)

    _, second = restarts.start()
    listed = [p for p in second.profiles.ListProfiles(pb.ListProfilesRequest()).profiles]
    assert [(p.name, p.version, p.shadow_version) for p in listed] == [("test_leads", 1, 2)]
    got = second.profiles.GetProfile(pb.GetProfileRequest(name=SHADOW))
    assert got.toml == toml and got.profile.source == "cand.toml"
    ranked = rank_all(second, SHADOW)
    assert {s.entity_id: s.score for s in ranked} == {e: v[0] for e, v in before.items()}
    # The restored shadow is scored on ingest.
    ingest(second, [track("c001"), track("c001"), track("c001", "form_submit")])
    views, _ = truth["c001"]
    [row] = [s for s in rank_all(second, SHADOW) if s.entity_id == "c001"]
    assert row.score == expected(2, views + 2, True)
    second.channel.close()

    # A candidate no longer valid against the files is dropped on start, with its rows.
    source = profiles_dir / "test_leads.toml"
    source.write_text(source.read_text().replace("version = 1", "version = 5"))
    _, third = restarts.start()
    [profile] = third.profiles.ListProfiles(pb.ListProfilesRequest()).profiles
    assert (profile.version, profile.shadow_version) == (5, 0)
    assert stored(stubs, SHADOW) == {}
    assert stubs.handle.call(stubs.handle.service.store.shadows) == []
    third.channel.close()
