"""Shadow profiles through the generated stubs on a real server: PromoteProfile, which
rewrites the profile file, rescores and records tier changes; a promotion that cannot
complete; and promotion while clients score and rank without pause.

The world and the hand-computed scores are in shadow_helpers.py.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from prioscore.server.core import shadows as shadows_module
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.rpc.conftest import Stubs, track
from tests.rpc.shadow_helpers import (
    SHADOW,
    N,
    candidate,
    error_of,
    expected,
    ingest,
    stage,
    stored,
    summary,
    tier_of,
    world,
)


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
    assert done.profile.source == source.name and done.profile.shadow_version == 0  # no dirs
    assert done.entities_scored == N + 1 and done.tier_changes == len(moves)
    reader.join(timeout=10)
    watch.cancel()
    assert {c.entity_id: (c.previous_tier, c.tier) for c in heard} == moves
    assert {(c.cause, c.cause_message_id) for c in heard} == {
        (types_pb2.TIER_CHANGE_CAUSE_PROMOTION, "")
    }

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
