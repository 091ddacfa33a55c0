"""CompareProfiles over the population in steps (handlers/comparison.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from prioscore.server.engine import FeatureSet, Profile, TierMode, score
from prioscore.server.handlers import Handlers, comparison
from prioscore.server.profiles import ProfileRegistry
from tests.conftest import PROFILES
from tests.handlers.conftest import tracks


class _MatrixScorer:
    """Scores entity "i" from row i of a feature matrix (what StoredScorer.score gives
    for stored entities, without a store)."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix

    def score(self, profile: Profile, ids: list[str], now: float, explain: bool) -> Any:
        rows = self.matrix[[int(i) for i in ids]]
        features = FeatureSet(rows, np.full(len(ids), -1, dtype=np.int32))
        return SimpleNamespace(result=score(profile, features, {}, explain=explain))


def test_quantile_tiers_of_a_population_in_steps_are_cut_on_the_whole() -> None:
    profile = ProfileRegistry.from_directory(PROFILES).get("saas_renewal")
    assert profile is not None and TierMode(profile.tiers.mode) is TierMode.QUANTILE
    rng = np.random.default_rng(4)
    matrix = rng.uniform(0, 8, size=(103, len(profile.signals)))
    ctx: Any = SimpleNamespace(scorer=_MatrixScorer(matrix))
    ids = [str(i) for i in range(103)]
    whole = comparison.score_population(ctx, profile, ids, 0.0, chunk=1_000)
    stepped = comparison.score_population(ctx, profile, ids, 0.0, chunk=10)
    assert len(np.unique(whole.tier)) == len(profile.tiers.names)
    np.testing.assert_array_equal(stepped.tier, whole.tier)
    np.testing.assert_allclose(stepped.score, whole.score, rtol=1e-12)  # engine blocks
    np.testing.assert_array_equal(stepped.disqualified, whole.disqualified)


def test_a_comparison_in_steps_is_the_comparison_in_one_pass(
    handlers: Handlers, monkeypatch: pytest.MonkeyPatch
) -> None:
    props = {"url": "/pricing"}
    rows = [(f"c{i}", "page_view", d, props) for i in range(40) for d in range(i % 10 + 1)]
    handlers.service.ingest(tracks(rows))

    def compared() -> comparison.CompareResult:
        return handlers.profiles.compare(
            profile_name="lead_qualification", candidate_profile="lead_qualification"
        )

    whole = compared()
    monkeypatch.setattr(comparison, "COMPARE_CHUNK", 7)
    stepped = compared()
    assert len(whole.entity_ids) == 40 and stepped.entity_ids == whole.entity_ids
    assert stepped.from_tier.tolist() == whole.from_tier.tolist()
    np.testing.assert_array_equal(stepped.score_change, whole.score_change)
    a, b = stepped.comparison, whole.comparison
    assert (a.top_k_overlap, a.rank_correlation) == pytest.approx(
        (b.top_k_overlap, b.rank_correlation), nan_ok=True
    )
    np.testing.assert_array_equal(a.tier_moves, b.tier_moves)
