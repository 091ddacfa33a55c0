"""calibrate_profile on hand-built feature matrices: mapping, clipping, score calibration."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine.calibration import (
    calibrate_profile,
    clip_to_bands,
    engagement_score,
    fit_logistic,
    sigmoid,
    signal_bands,
)
from prioscore.server.engine.model import FeatureSet
from prioscore.server.engine.scoring import score

TOL = 0.05  # see test_fit_logistic.RECOVERY_TOL


def feature_set(matrix: np.ndarray, eliminated: np.ndarray | None = None) -> FeatureSet:
    if eliminated is None:
        eliminated = np.full(matrix.shape[0], -1, dtype=np.int32)
    return FeatureSet(matrix=matrix, eliminated_by=eliminated)


def in_band_data(rng, labels_from, n: int = 200_000):
    """Features inside every band (caps 40/10 and 20/4 -> bands 4 and 5), known truth."""
    X = np.column_stack([rng.uniform(0, 4, n), rng.exponential(2.0, n), rng.uniform(0, 5, n)])
    true = np.array([0.6, 0.2, -0.4])
    return X, labels_from(rng, X, true, -0.5), true


def test_candidate_keeps_structure_and_bumps_version(rng, labels_from, profile_factory) -> None:
    profile = profile_factory()
    X, y, _ = in_band_data(rng, labels_from, n=20_000)
    cal = calibrate_profile(profile, feature_set(X), y)
    cand = cal.candidate
    assert cand.signal_names == profile.signal_names
    assert [s.event for s in cand.signals] == [s.event for s in profile.signals]
    assert [s.aggregate for s in cand.signals] == [s.aggregate for s in profile.signals]
    assert cand.tiers == profile.tiers
    assert cand.max_points == profile.max_points
    assert (cand.name, cand.entity, cand.fit, cand.disqualify) == (
        profile.name,
        profile.entity,
        profile.fit,
        profile.disqualify,
    )
    assert cand.version == profile.version + 1
    # Caps semantics: capped stays capped, uncapped stays uncapped, bands are unchanged.
    assert [s.cap is None for s in cand.signals] == [s.cap is None for s in profile.signals]
    np.testing.assert_allclose(signal_bands(cand), signal_bands(profile))
    # The points scale: the strongest weight matches the active profile's strongest.
    assert max(abs(s.weight) for s in cand.signals) == pytest.approx(10.0)


def test_candidate_weights_are_the_fitted_direction(rng, labels_from, profile_factory) -> None:
    profile = profile_factory()
    X, y, true = in_band_data(rng, labels_from)
    cal = calibrate_profile(profile, feature_set(X), y, l2=1e-8)
    assert cal.fit.converged
    assert np.max(np.abs(cal.fit.coef - true)) < TOL
    weights = np.array([s.weight for s in cal.candidate.signals])
    np.testing.assert_allclose(weights, cal.fit.coef * 10.0 / np.abs(cal.fit.coef).max())
    # Relative weights recover the truth (the third signal's sign flips from the active -4).
    np.testing.assert_allclose(weights / 10.0, true / 0.6, atol=2 * TOL / 0.6)


def test_features_are_clipped_to_bands_as_scoring_does(rng, labels_from, profile_factory) -> None:
    profile = profile_factory()
    X, y, _ = in_band_data(rng, labels_from, n=20_000)
    wild = X.copy()
    wild[:, 0] *= 5.0  # band 4: most of these now saturate the cap
    wild[:, 2] -= 8.0  # band 5 around zero: many fall below -5
    # Scoring only sees the clipped matrix, so calibration must only see it too.
    a = calibrate_profile(profile, feature_set(wild), y)
    b = calibrate_profile(profile, feature_set(clip_to_bands(profile, wild)), y)
    np.testing.assert_array_equal(a.fit.coef, b.fit.coef)
    assert a.score_slope == b.score_slope
    assert clip_to_bands(profile, wild)[:, 0].max() == 4.0
    assert clip_to_bands(profile, wild)[:, 2].min() == -5.0
    np.testing.assert_array_equal(clip_to_bands(profile, wild)[:, 1], wild[:, 1])  # uncapped


def test_eliminated_entities_do_not_train(rng, labels_from, profile_factory) -> None:
    profile = profile_factory()
    X, y, _ = in_band_data(rng, labels_from, n=10_000)
    eliminated = np.full(X.shape[0], -1, dtype=np.int32)
    eliminated[:2_000] = 0
    base = calibrate_profile(profile, feature_set(X, eliminated), y)
    X2, y2 = X.copy(), y.copy()
    X2[:2_000] = 1e6
    y2[:2_000] = 1 - y2[:2_000]
    other = calibrate_profile(profile, feature_set(X2, eliminated), y2)
    np.testing.assert_array_equal(base.fit.coef, other.fit.coef)
    ref = fit_logistic(clip_to_bands(profile, X[2_000:]), y[2_000:])
    np.testing.assert_allclose(base.fit.coef, ref.coef)


def test_score_calibration_maps_score_to_probability(rng, labels_from, profile_factory) -> None:
    profile = profile_factory()
    X, y, _ = in_band_data(rng, labels_from, n=50_000)
    cal = calibrate_profile(profile, feature_set(X), y)
    points = engagement_score(cal.candidate, X)
    assert points.min() >= 0.0 and points.max() <= 100.0
    assert cal.score_slope > 0  # a higher candidate score means a likelier outcome
    # Unpenalised intercept: calibrated probabilities average to the base rate.
    assert cal.probability(points).mean() == pytest.approx(y.mean(), abs=1e-9)
    np.testing.assert_allclose(
        cal.probability(points), sigmoid(cal.score_slope * points + cal.score_intercept)
    )


def test_weight_mapping_edge_cases(rng, labels_from, profile_factory) -> None:
    # A zero-weight capped signal was fitted unclipped, so its candidate is uncapped; a
    # constant feature gets weight 0 and keeps its old cap.
    profile = profile_factory(weights=(0.0, 5.0, -4.0), caps=(30.0, None, 20.0))
    X, y, _ = in_band_data(rng, labels_from, n=10_000)
    X[:, 2] = 1.0
    cand = calibrate_profile(profile, feature_set(X), y).candidate
    assert cand.signals[0].cap is None and cand.signals[0].weight != 0.0
    assert cand.signals[2].weight == 0.0 and cand.signals[2].cap == 20.0
    assert max(abs(s.weight) for s in cand.signals) == pytest.approx(5.0)


def test_engagement_matches_the_scoring_module(rng, profile_factory) -> None:
    profile = profile_factory()
    X = rng.uniform(-2, 12, size=(2_000, 3))
    result = score(profile, feature_set(X), {})
    np.testing.assert_allclose(engagement_score(profile, X), result.engagement, atol=1e-9)


def test_rejects_mismatched_shapes(profile_factory) -> None:
    profile = profile_factory()
    with pytest.raises(ValueError):
        calibrate_profile(profile, feature_set(np.zeros((4, 2))), np.zeros(4))
    with pytest.raises(ValueError):
        calibrate_profile(profile, feature_set(np.zeros((4, 3))), np.zeros(5))
