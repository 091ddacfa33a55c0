"""ProfileHandlers called directly: listing, shadows and their promotion."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from prioscore.server.clock import Clock
from prioscore.server.errors import ShadowVersionMismatchError
from prioscore.server.handlers import Handlers, Outcomes, RankQuery, build_handlers, evaluation
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.store import Store
from tests.conftest import PROFILES
from tests.handlers.conftest import DAY, NOW, tracks


def test_profiles_are_listed_by_name_and_paged(handlers: Handlers) -> None:
    first = handlers.profiles.list_profiles(2, "")
    names = [p.name for p, _ in first.profiles]
    assert names == sorted(names) and len(names) == 2 and first.next_page_token
    rest = handlers.profiles.list_profiles(100, first.next_page_token)
    assert names[-1] < rest.profiles[0][0].name


def test_a_staged_shadow_is_promoted_and_its_scores_become_live(tmp_path: Path) -> None:
    directory = tmp_path / "profiles"
    shutil.copytree(PROFILES, directory)
    clock = Clock()
    clock.set(NOW)
    built = build_handlers(
        Store(tmp_path / "p.db"), ProfileRegistry.from_directory(directory), clock=clock
    )
    try:
        built.service.ingest(tracks([("c1", "page_view", 1, {"url": "/pricing"})]))
        text = (directory / "lead_qualification.toml").read_text()
        current = built.registry.get("lead_qualification")
        assert current is not None
        version = current.version + 1
        candidate = re.sub(r"(?m)^version = \d+", f"version = {version}", text, count=1)
        staged = built.profiles.stage_profile(candidate, "lead_next.toml")
        assert staged.entities_scored == 1
        view = built.profiles.get_profile("lead_qualification@shadow")
        assert view.name == "lead_qualification@shadow" and view.toml == candidate
        with pytest.raises(ShadowVersionMismatchError):
            built.profiles.promote_profile("lead_qualification", version + 1)
        promoted = built.profiles.promote_profile("lead_qualification", version)
        assert promoted.profile.version == version
        assert promoted.previous.version == current.version
        page = built.service.rank(RankQuery("lead_qualification"))
        assert [s.profile_version for s in page.scores] == [version]
    finally:
        built.close()


def test_evaluations_read_on_a_connection_of_their_own(handlers: Handlers) -> None:
    """An evaluation's whole-population reads hold their Store's lock for each fetch; on
    the readers' connection they would hold up every stored read the loop serves (and
    the loop with it). Here the readers' lock is held throughout, as a long read would:
    the evaluations still finish."""
    handlers.service.ingest(
        tracks([("c1", "page_view", 1, {"url": "/pricing"}), ("c2", "email_click", 2, {})])
    )
    outcomes = Outcomes(["c1", "c2"], np.array([True, False]), np.array([NOW, NOW]))
    reads = handlers.service.scorer.store
    profiles = handlers.profiles
    with ThreadPoolExecutor(1) as pool, reads._lock:
        compared = pool.submit(
            lambda: profiles.compare(
                profile_name="lead_qualification", candidate_profile="lead_qualification"
            )
        ).result(timeout=10)
        tested = pool.submit(
            lambda: profiles.backtest(outcomes, profile_name="lead_qualification")
        ).result(timeout=10)
    assert compared.entity_ids == ["c1", "c2"] and compared.moves_total == 0
    assert tested.report.entities == 2


def test_point_in_time_features_in_steps_are_those_of_one_pass(
    handlers: Handlers, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [(f"c{i}", "page_view", d, {"url": "/pricing"}) for i in range(11) for d in range(i)]
    handlers.service.ingest(tracks(rows))
    ids = [f"c{i}" for i in range(1, 11)]
    labels = np.array([i % 3 == 0 for i in range(1, 11)])
    outcomes = Outcomes(ids, labels, np.full(10, NOW - 2 * DAY))

    def run() -> tuple[object, ...]:
        tested = handlers.profiles.backtest(outcomes, profile_name="lead_qualification")
        fitted = handlers.profiles.calibrate(outcomes, profile_name="lead_qualification")
        return tested.report, fitted.candidate_toml, fitted.current_report

    whole = repr(run())  # reports hold arrays and NaN: their text is what compares
    monkeypatch.setattr(evaluation, "OUTCOME_CHUNK", 3)
    assert repr(run()) == whole
