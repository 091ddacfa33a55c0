"""backtest() through engine.scoring, and the calibrate -> backtest -> shadow loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from prioscore.server.engine.backtest import backtest, compare_rankings, roc_auc
from prioscore.server.engine.calibration import calibrate_profile
from prioscore.server.engine.model import DisqualifyRule, FeatureSet
from prioscore.server.engine.scoring import score

N = 40_000
K = 2_000


@pytest.fixture
def setup(rng, labels_from, profile_factory):
    """An active profile whose third weight has the wrong sign, and outcomes that say so."""
    profile = dataclasses.replace(
        profile_factory(),
        disqualify=(DisqualifyRule("relationship", ("competitor",), "competitor"),),
    )
    X = np.column_stack([rng.uniform(0, 4, N), rng.exponential(2.0, N), rng.uniform(0, 5, N)])
    y = labels_from(rng, X, np.array([0.2, 0.1, 0.6]), -3.0)
    relationship = np.where(rng.random(N) < 0.05, "competitor", "customer").astype(object)
    features = FeatureSet(matrix=X, eliminated_by=np.full(N, -1, dtype=np.int32))
    return profile, features, {"relationship": relationship}, y


def test_report_fields_agree_with_the_metrics(setup) -> None:
    profile, features, attributes, y = setup
    report = backtest(profile, features, attributes, y, K)
    result = score(profile, features, attributes)
    ranked = np.where(result.disqualified, -np.inf, result.score)
    assert report.auc == pytest.approx(roc_auc(y, ranked))
    assert report.k == K and report.entities == N
    assert report.base_rate == pytest.approx(y.mean())
    assert report.disqualified == int(result.disqualified.sum()) > 0
    assert [t.tier for t in report.tiers] == [*profile.tiers.names, "disqualified"]
    assert sum(t.entities for t in report.tiers) == N
    assert sum(t.positives for t in report.tiers) == int(y.sum())
    assert report.lift_by_decile.shape == (10,)


def test_calibrated_candidate_beats_the_wrong_profile(setup) -> None:
    profile, features, attributes, y = setup
    active = backtest(profile, features, attributes, y, K)
    candidate = calibrate_profile(profile, features, y).candidate
    assert candidate.signals[2].weight > 0  # the sign the outcomes support
    shadow = backtest(candidate, features, attributes, y, K)
    assert shadow.auc > active.auc + 0.05
    assert shadow.precision_at_k > active.precision_at_k
    assert shadow.lift_by_decile[0] > 1.5 > active.lift_by_decile[0]

    a = score(profile, features, attributes)
    b = score(candidate, features, attributes)
    cmp = compare_rankings(
        np.where(a.disqualified, -np.inf, a.score),
        np.where(b.disqualified, -np.inf, b.score),
        a.tier,
        b.tier,
        K,
    )
    assert 0.0 <= cmp.top_k_overlap < 1.0
    assert -1.0 <= cmp.rank_correlation < 1.0
    assert not np.isin(cmp.tier_moves, np.flatnonzero(a.disqualified)).any()


def test_disqualifying_converters_costs_auc(setup) -> None:
    profile, features, attributes, y = setup
    lenient = dataclasses.replace(profile, disqualify=())
    strict = backtest(profile, features, attributes, y, K)
    open_ = backtest(lenient, features, attributes, y, K)
    assert strict.disqualified > 0 and open_.disqualified == 0
    assert strict.auc != open_.auc
