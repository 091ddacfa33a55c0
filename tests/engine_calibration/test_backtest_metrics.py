"""Rank metrics: AUC against scikit-learn, hand-checked precision@k / lift, tiers, shadow."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from prioscore.server.engine.backtest import (
    TierRate,
    average_ranks,
    compare_rankings,
    lift_by_decile,
    precision_at_k,
    roc_auc,
    tier_conversion,
)

# Ten entities, best score first; the two 7s tie (one positive, one negative).
SCORES = np.array([9.0, 8.0, 7.0, 7.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
LABELS = np.array([1, 0, 1, 0, 1, 0, 0, 0, 0, 1])


def test_roc_auc_matches_sklearn_with_heavy_ties(rng) -> None:
    score = rng.integers(0, 6, size=50_000).astype(float)  # six distinct values only
    y = rng.random(score.size) < 0.1 + 0.05 * score
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([-np.inf, -1.5, 0.0, 0.0, 2.0, 3.25, 7.0])),
        min_size=2,
        max_size=60,
    )
)
def test_roc_auc_matches_sklearn_property(rows) -> None:
    y = np.array([r[0] for r in rows])
    score = np.array([r[1] for r in rows])
    if y.min() == y.max():
        assert np.isnan(roc_auc(y, score))
        return
    finite = np.where(np.isinf(score), -1e300, score)  # sklearn rejects -inf
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, finite), abs=1e-12)


def test_roc_auc_extremes() -> None:
    assert roc_auc(LABELS, np.where(LABELS == 1, 1.0, 0.0)) == 1.0
    assert roc_auc(LABELS, np.where(LABELS == 1, 0.0, 1.0)) == 0.0
    assert roc_auc(LABELS, np.zeros(10)) == 0.5


def test_average_ranks_share_ties() -> None:
    np.testing.assert_array_equal(average_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1, 3.5, 2])


def test_precision_at_k_by_hand() -> None:
    assert precision_at_k(LABELS, SCORES, 1) == 1.0
    assert precision_at_k(LABELS, SCORES, 2) == 0.5
    # Cut through the tie at 7: one of the two slots is a positive half the time.
    assert precision_at_k(LABELS, SCORES, 3) == pytest.approx((1 + 0 + 0.5) / 3)
    assert precision_at_k(LABELS, SCORES, 4) == 0.5
    assert precision_at_k(LABELS, SCORES, 10) == 0.4
    assert precision_at_k(LABELS, SCORES, 99) == 0.4  # k beyond n means everyone
    # Input order does not matter.
    perm = np.array([5, 3, 9, 0, 1, 8, 2, 7, 4, 6])
    assert precision_at_k(LABELS[perm], SCORES[perm], 3) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        precision_at_k(LABELS, SCORES, 0)


def test_lift_by_decile_by_hand() -> None:
    # n = 10: one entity per decile; base rate 0.4; the tied pair shares its rate 0.5.
    expected = np.array([1, 0, 0.5, 0.5, 1, 0, 0, 0, 0, 1]) / 0.4
    np.testing.assert_allclose(lift_by_decile(LABELS, SCORES), expected)
    # n = 20: two entities per decile.
    score = np.arange(20, 0, -1).astype(float)
    y = np.zeros(20)
    y[[0, 1, 2, 19]] = 1  # base rate 0.2
    np.testing.assert_allclose(
        lift_by_decile(y, score), np.array([1.0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0.5]) / 0.2
    )


def test_lift_is_one_on_average_and_nan_when_undefined(rng) -> None:
    score = rng.random(1_003)
    y = rng.random(1_003) < 0.2
    lift = lift_by_decile(y, score)
    sizes = np.diff((np.arange(11) * 1_003) // 10)
    assert float(lift @ sizes) / 1_003 == pytest.approx(1.0)
    assert np.isnan(lift_by_decile(np.zeros(50), rng.random(50))).all()
    few = lift_by_decile(np.array([1, 0, 0]), np.array([3.0, 2.0, 1.0]))
    assert np.isnan(few).sum() == 7  # only 3 non-empty deciles


def test_tier_conversion_counts_and_disqualified() -> None:
    tier = np.array([2, 2, 1, 0, 0, 0, -1, 1, 2, -1])
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0, 0, 0])
    rates = tier_conversion(y, tier, ("cold", "warm", "hot"))
    assert rates == [
        TierRate("cold", 3, 1, pytest.approx(1 / 3)),
        TierRate("warm", 2, 0, 0.0),
        TierRate("hot", 3, 2, pytest.approx(2 / 3)),
        TierRate("disqualified", 2, 1, 0.5),
    ]
    empty = tier_conversion(np.array([1]), np.array([0]), ("cold", "hot"))
    assert [r.tier for r in empty] == ["cold", "hot"]
    assert np.isnan(empty[1].rate) and empty[1].entities == 0
    with pytest.raises(ValueError):
        tier_conversion(np.array([1]), np.array([2]), ("cold", "hot"))


def test_compare_rankings(rng) -> None:
    a = rng.integers(0, 20, size=5_000).astype(float)
    b = a + rng.integers(0, 8, size=a.size)
    ta = np.searchsorted([5.0, 12.0], a, side="right")
    tb = np.searchsorted([5.0, 12.0], b, side="right")
    cmp = compare_rankings(a, b, ta, tb, k=500)
    assert cmp.rank_correlation == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    np.testing.assert_array_equal(cmp.tier_moves, np.flatnonzero(ta != tb))
    assert 0.0 < cmp.top_k_overlap <= 1.0

    same = compare_rankings(a, a, ta, ta, k=100)
    assert same.top_k_overlap == 1.0 and same.rank_correlation == pytest.approx(1.0)
    assert same.tier_moves.size == 0
    rev = compare_rankings(np.arange(10.0), -np.arange(10.0), np.zeros(10), np.zeros(10), k=5)
    assert rev.top_k_overlap == 0.0 and rev.rank_correlation == pytest.approx(-1.0)
    assert np.isnan(compare_rankings(a, np.ones(a.size), ta, ta, 5).rank_correlation)


def test_metrics_reject_nan_and_non_binary_labels() -> None:
    with pytest.raises(ValueError):
        roc_auc(LABELS, np.where(LABELS == 1, np.nan, 0.0))
    with pytest.raises(ValueError):
        roc_auc(np.full(10, 2), SCORES)
    with pytest.raises(ValueError):
        compare_rankings(SCORES, SCORES[:5], LABELS, LABELS, 3)
