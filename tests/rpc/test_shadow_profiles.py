"""Shadow profiles through the generated stubs on a real server: StageProfile, scoring on
every ingest, RankEntities / CompareProfiles on the shadow, restarts, PromoteProfile (also
under concurrent scoring) and DeleteShadowProfile.

The profile is tests/rpc/profiles/test_leads.toml in a private copy (promotion rewrites
the file): 10 points per page view (cap 50) and 50 for a demo request; the candidate
doubles the page-view weight, so scores are computable by hand.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from prioscore.server import shadows as shadows_module
from prioscore.server.config import Settings
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.rpc.server import RunningServer, start_server
from prioscore.server.service import Service
from prioscore.server.store import Store
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc as ev_grpc
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import profile_service_pb2_grpc as pb_grpc
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import scoring_service_pb2_grpc as sc_grpc
from prioscore.v1 import types_pb2
from tests.conftest import ServerHandle
from tests.rpc.conftest import Stubs, field_violations, track

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
    """n contacts (views, demo), an entity of unknown kind with one view, one account."""
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
    assert staged.entities_scored == N + 1  # the contacts and the entity of unknown kind

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
            service = Service(Store(handle.db), registry)
            settings = Settings(address="127.0.0.1:0", db=handle.db, profiles=handle.profiles_dir)
            return await start_server(service, settings)

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


# -- promotion -----------------------------------------------------------------------------


def test_promote_rewrites_the_file_and_records_tier_changes(
    stubs: Stubs, profiles_dir: Path
) -> None:
    truth = world(stubs)
    source = profiles_dir / "test_leads.toml"
    original = source.read_text()
    toml = candidate(profiles_dir)
    stage(stubs, toml)
    promote = stubs.profiles.PromoteProfile

    # The caller promotes what it reviewed: another version is ABORTED, nothing changes.
    stale = error_of(lambda: promote(pb.PromoteProfileRequest(name="test_leads", shadow_version=3)))
    assert stale.code() == grpc.StatusCode.ABORTED
    assert source.read_text() == original and summary(stubs).shadow_version == 2

    # Watchers hear of the tier changes promotion makes.
    watch = stubs.scoring.WatchTierChanges(
        sc.WatchTierChangesRequest(profile="test_leads"), timeout=30
    )
    heard: list[types_pb2.TierChange] = []
    moves = {
        e: (tier_of(expected(1, *vd)), tier_of(expected(2, *vd)))
        for e, vd in truth.items()
        if tier_of(expected(1, *vd)) != tier_of(expected(2, *vd))
    }
    assert moves

    def read() -> None:
        for response in watch:
            heard.append(response.change)
            if len(heard) == len(moves):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while stubs.handle.service.hub.watcher_count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    done = promote(pb.PromoteProfileRequest(name="test_leads", shadow_version=2))
    assert (done.profile.name, done.profile.version, done.previous_version) == ("test_leads", 2, 1)
    assert done.profile.source == str(source) and done.profile.shadow_version == 0
    assert done.entities_scored == N + 1 and done.tier_changes == len(moves)
    reader.join(timeout=10)
    watch.cancel()
    assert {c.entity_id: (c.previous_tier, c.tier) for c in heard} == moves
    assert {c.cause_message_id for c in heard} == {"promote:test_leads@2"}

    assert source.read_text() == toml  # the file is the candidate, comments and all
    assert not [p for p in profiles_dir.iterdir() if p.name.startswith(".")]  # no temp file
    listed = summary(stubs)
    assert (listed.version, listed.shadow_version) == (2, 0)
    rows = stored(stubs, "test_leads")
    for entity, vd in truth.items():
        assert rows[entity] == (expected(2, *vd), tier_of(expected(2, *vd)), 2)
    assert stored(stubs, SHADOW) == {}
    assert stubs.handle.call(stubs.handle.service.store.shadows) == []
    moved = next(iter(moves))
    points = stubs.scoring.GetScoreHistory(
        sc.GetScoreHistoryRequest(entity_id=moved, profile="test_leads")
    ).points
    assert points[0].profile_version == 2 and points[0].score == expected(2, *truth[moved])
    assert points[1].profile_version == 1

    # Ingest now scores v2 only; a reload reads the promoted file back.
    ingest(stubs, [track("c001")])
    assert stored(stubs, "test_leads")["c001"][:2] == (
        expected(2, truth["c001"][0] + 1, False),
        "warm",
    )
    assert stubs.profiles.ReloadProfiles(pb.ReloadProfilesRequest()).applied
    assert summary(stubs).version == 2
    nothing = error_of(lambda: promote(pb.PromoteProfileRequest(name="test_leads")))
    assert nothing.code() == grpc.StatusCode.NOT_FOUND and SHADOW in (nothing.details() or "")
    unknown = error_of(lambda: promote(pb.PromoteProfileRequest(name="nope")))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


def test_a_promotion_that_cannot_complete_changes_nothing(
    stubs: Stubs, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world(stubs)
    source = profiles_dir / "test_leads.toml"
    original = source.read_text()
    stage(stubs, candidate(profiles_dir))
    before_active, before_shadow = stored(stubs, "test_leads"), stored(stubs, SHADOW)
    promote = stubs.profiles.PromoteProfile

    def unchanged() -> None:
        assert source.read_text() == original
        listed = summary(stubs)
        assert (listed.version, listed.shadow_version) == (1, 2)
        assert stored(stubs, "test_leads") == before_active
        assert stored(stubs, SHADOW) == before_shadow

    def refuse(path: Path, text: str) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    # The file cannot be written: FAILED_PRECONDITION.
    with monkeypatch.context() as patch:
        patch.setattr(shadows_module, "_write_atomically", refuse)
        error = error_of(lambda: promote(pb.PromoteProfileRequest(name="test_leads")))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Permission denied" in (error.details() or "")
    unchanged()

    # The scores cannot be moved after the file was written: the old file comes back.
    def broken(self: object, staged: object, now: float) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(shadows_module.ShadowSet, "_move_scores", broken)
        error = error_of(lambda: promote(pb.PromoteProfileRequest(name="test_leads")))
    assert error.code() == grpc.StatusCode.INTERNAL
    unchanged()

    # The file is gone: FAILED_PRECONDITION, and the promotion still works once it is back.
    source.unlink()
    error = error_of(lambda: promote(pb.PromoteProfileRequest(name="test_leads")))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    source.write_text(original)
    unchanged()
    assert promote(pb.PromoteProfileRequest(name="test_leads")).profile.version == 2


def _inline_request(profile: str, entity: str, views: int, demo: bool) -> sc.ScoreEntitiesRequest:
    events = [track(entity) for _ in range(views)]
    if demo:
        events.append(track(entity, "form_submit"))
    if not events:
        events.append(track(entity, "email_open"))  # an entity that scores 0
    return sc.ScoreEntitiesRequest(profile=profile, inline_events=sc.InlineEvents(events=events))


def calls_of(seen: dict[int, list[tuple[float, float, int]]]) -> list[tuple[float, float, int]]:
    return [entry for log in seen.values() for entry in log]


def test_promotion_under_concurrent_scoring(stubs: Stubs, profiles_dir: Path) -> None:
    """Clients score and rank without pause while the candidate is promoted: every answer
    is wholly version 1 or wholly version 2, exactly as that version scores, none fails,
    and nothing started after PromoteProfile returned sees version 1."""
    truth = world(stubs, 3000)  # enough rows that the promotion takes a while
    stage(stubs, candidate(profiles_dir))
    cases = [(f"inline-{v}-{int(d)}", v, d) for v in range(7) for d in (False, True)]
    # Reference answers per version: the active profile (v1) and the shadow (v2), which
    # score inline events with exactly the profile versions the promotion swaps.
    reference: dict[int, dict[str, float]] = {1: {}, 2: {}}
    for entity, views, demo in cases:
        for version, profile in ((1, "test_leads"), (2, SHADOW)):
            [score] = stubs.scoring.ScoreEntities(
                _inline_request(profile, entity, views, demo)
            ).scores
            assert score.profile_version == version
            assert score.score == expected(version, views, demo)  # and by hand
            reference[version][entity] = score.score
    ranked_truth = {
        version: {e: expected(version, *vd) for e, vd in truth.items()} for version in (1, 2)
    }
    first_page = {  # RankEntities' first page under each version, by hand
        version: sorted(((-s, e) for e, s in ranked_truth[version].items()))[:1000]
        for version in (1, 2)
    }

    stop = threading.Event()
    promoted_at: list[float] = []
    errors: list[BaseException] = []
    seen: dict[int, list[tuple[float, float, int]]] = {}  # worker -> (start, end, version)

    def score_worker(worker: int) -> None:
        rng = random.Random(worker)
        log = seen.setdefault(worker, [])
        for _ in range(3000):
            if stop.is_set():
                return
            entity, views, demo = rng.choice(cases)
            started = time.monotonic()
            [score] = stubs.scoring.ScoreEntities(
                _inline_request("test_leads", entity, views, demo), timeout=10
            ).scores
            version = score.profile_version
            assert version in (1, 2), version
            assert score.score == reference[version][entity], (version, entity, score.score)
            log.append((started, time.monotonic(), version))

    def stored_worker(worker: int) -> None:
        rng = random.Random(worker)
        log = seen.setdefault(worker, [])
        entities = sorted(truth)
        for _ in range(3000):
            if stop.is_set():
                return
            started = time.monotonic()
            if rng.random() < 0.5:
                page = stubs.scoring.RankEntities(
                    sc.RankEntitiesRequest(profile="test_leads", page_size=1000), timeout=10
                )
                versions = {s.profile_version for s in page.scores}
                assert len(versions) == 1, versions  # never half promoted
                [version] = versions
                assert page.total_size == len(truth)
                assert [(-s.score, s.entity_id) for s in page.scores] == first_page[version]
            else:
                chosen = rng.sample(entities, 10)
                scores = stubs.scoring.ScoreEntities(
                    sc.ScoreEntitiesRequest(
                        profile="test_leads", stored=sc.StoredEntities(entity_ids=chosen)
                    ),
                    timeout=10,
                ).scores
                versions = {s.profile_version for s in scores}
                assert len(versions) == 1, versions
                [version] = versions
                assert {s.entity_id: s.score for s in scores} == {
                    e: ranked_truth[version][e] for e in chosen
                }
            log.append((started, time.monotonic(), version))

    def guarded(run: Callable[[int], None], worker: int) -> None:
        try:
            run(worker)
        except BaseException as error:  # reported by the test thread
            errors.append(error)
            stop.set()

    workers = [score_worker] * 4 + [stored_worker] * 2
    deadline = time.monotonic() + 10
    with ThreadPoolExecutor(len(workers)) as pool:
        futures = [pool.submit(guarded, run, i) for i, run in enumerate(workers)]
        while (
            min((len(seen.get(i, [])) for i in range(len(workers))), default=0) < 20
            and not errors
            and time.monotonic() < deadline
        ):
            time.sleep(0.005)
        promoting = time.monotonic()
        done = stubs.profiles.PromoteProfile(
            pb.PromoteProfileRequest(name="test_leads", shadow_version=2), timeout=10
        )
        promoted_at.append(time.monotonic())
        counts = {i: len(seen.get(i, [])) for i in range(len(workers))}
        while (
            min(len(seen.get(i, [])) - counts[i] for i in range(len(workers))) < 20
            and not errors
            and time.monotonic() < deadline
        ):
            time.sleep(0.005)
        stop.set()
        for future in futures:
            future.result(timeout=30)
    assert not errors, errors[0]
    # Six clients calling back to back: some calls were in flight while it ran.
    assert done.profile.version == 2 and done.entities_scored == len(truth)
    overlapping = [c for c in calls_of(seen) if c[0] < promoted_at[0] and c[1] > promoting]
    assert overlapping
    calls = calls_of(seen)
    versions = {version for _, _, version in calls}
    assert versions == {1, 2}, "the promotion did not happen while clients were scoring"
    # Nothing that started after the promotion returned saw version 1, and no client saw
    # version 1 again once it had seen version 2.
    assert all(version == 2 for start, _, version in calls if start > promoted_at[0])
    for log in seen.values():
        order = [version for _, _, version in log]
        assert order == sorted(order), order
    print(
        f"\npromotion under load: {len(calls)} calls by {len(workers)} clients,"
        f" {sum(v == 1 for *_, v in calls)} answered by v1, {sum(v == 2 for *_, v in calls)} by v2;"
        f" promotion of {done.entities_scored} entities took"
        f" {1000 * (promoted_at[0] - promoting):.1f} ms, {len(overlapping)} calls overlapped it"
    )
