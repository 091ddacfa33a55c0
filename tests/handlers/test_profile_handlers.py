"""ProfileHandlers called directly: listing, shadows and their promotion."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prioscore.server.clock import Clock
from prioscore.server.errors import ShadowVersionMismatchError
from prioscore.server.handlers import Handlers, RankQuery, build_handlers
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.store import Store
from tests.conftest import PROFILES
from tests.handlers.conftest import NOW, tracks


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
        candidate = text.replace("version = 1", "version = 2", 1)
        staged = built.profiles.stage_profile(candidate, "lead_v2.toml")
        assert staged.entities_scored == 1
        view = built.profiles.get_profile("lead_qualification@shadow")
        assert view.name == "lead_qualification@shadow" and view.toml == candidate
        with pytest.raises(ShadowVersionMismatchError):
            built.profiles.promote_profile("lead_qualification", 3)
        promoted = built.profiles.promote_profile("lead_qualification", 2)
        assert promoted.profile.version == 2 and promoted.previous.version == 1
        page = built.service.rank(RankQuery("lead_qualification"))
        assert [s.profile_version for s in page.scores] == [2]
    finally:
        built.close()
