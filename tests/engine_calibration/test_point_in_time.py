"""No leakage: features for calibration stop at outcome_time - horizon, per entity."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine.calibration import calibrate_profile, features_as_of_outcomes
from prioscore.server.engine.features import compute_features
from prioscore.server.engine.model import SECONDS_PER_DAY, Aggregate, EventColumns

T0 = 1_700_000_000.0
HORIZON_DAYS = 14.0
N = 3_000
MISSING = (0.0, 365.0, 0.0)


@pytest.fixture
def profile(profile_factory):
    return profile_factory(
        weights=(10.0, -0.5, 15.0),
        caps=(40.0, 30.0, None),
        aggregates=(Aggregate.COUNT, Aggregate.DAYS_SINCE_LAST, Aggregate.EXISTS),
        missing=MISSING,
    )


def events_of(entity: np.ndarray, etype: np.ndarray, ts: np.ndarray) -> EventColumns:
    return EventColumns(
        entity=entity.astype(np.int64),
        event_type=etype.astype(np.int32),
        ts=ts.astype(np.float64),
        value=np.ones(entity.size),
        event_types=("e0", "e1", "e2"),
    )


def world(rng):
    """Random history over 200 days; each entity's outcome lands in the second half."""
    outcome = T0 + rng.uniform(100, 200, N) * SECONDS_PER_DAY
    m = 40_000
    entity = rng.integers(0, N, m)
    etype = rng.integers(0, 3, m)
    ts = T0 + rng.uniform(0, 200, m) * SECONDS_PER_DAY
    cutoff = outcome - HORIZON_DAYS * SECONDS_PER_DAY
    # Entity 0 only acts after its cutoff (it signs up, then converts).
    keep = (entity != 0) | (ts > cutoff[0])
    entity, etype, ts = entity[keep], etype[keep], ts[keep]
    extra = 6
    entity = np.append(entity, np.zeros(extra, dtype=np.int64))
    etype = np.append(etype, np.arange(extra) % 3)
    ts = np.append(ts, cutoff[0] + rng.uniform(1, 30, extra) * SECONDS_PER_DAY)
    return events_of(entity, etype, ts), outcome, cutoff


def labels_for(rng, fs) -> np.ndarray:
    eta = 0.3 * np.minimum(fs.matrix[:, 0], 8) - 0.01 * fs.matrix[:, 1] - 0.5
    return (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(float)


def test_cutoff_is_outcome_minus_horizon(rng, profile) -> None:
    events, outcome, cutoff = world(rng)
    got = features_as_of_outcomes(profile, events, N, outcome, HORIZON_DAYS)
    want = compute_features(profile, events, N, cutoff)
    np.testing.assert_array_equal(got.matrix, want.matrix)


def test_entity_with_only_post_cutoff_events_gets_missing_values(rng, profile) -> None:
    events, outcome, _ = world(rng)
    assert (events.entity == 0).sum() >= 6
    fs = features_as_of_outcomes(profile, events, N, outcome, HORIZON_DAYS)
    np.testing.assert_array_equal(fs.matrix[0], MISSING)


def test_post_cutoff_events_change_nothing(rng, profile) -> None:
    events, outcome, cutoff = world(rng)
    before = features_as_of_outcomes(profile, events, N, outcome, HORIZON_DAYS)
    y = labels_for(rng, before)
    cal_before = calibrate_profile(profile, before, y)

    # Arbitrary later behaviour: a burst on every signal, strictly after each cutoff.
    k = 25_000
    who = rng.integers(0, N, k)
    late = events_of(
        np.concatenate([events.entity, who]),
        np.concatenate([events.event_type, rng.integers(0, 3, k)]),
        np.concatenate([events.ts, cutoff[who] + rng.uniform(1.0, 90 * SECONDS_PER_DAY, k)]),
    )
    shuffle = rng.permutation(len(late))  # and in any order
    late = events_of(late.entity[shuffle], late.event_type[shuffle], late.ts[shuffle])
    after = features_as_of_outcomes(profile, late, N, outcome, HORIZON_DAYS)
    np.testing.assert_allclose(after.matrix, before.matrix, rtol=1e-12, atol=1e-9)

    cal_after = calibrate_profile(profile, after, y)
    np.testing.assert_allclose(cal_after.fit.coef, cal_before.fit.coef, rtol=1e-9)
    assert cal_after.fit.intercept == pytest.approx(cal_before.fit.intercept, rel=1e-9)
    assert [s.weight for s in cal_after.candidate.signals] == pytest.approx(
        [s.weight for s in cal_before.candidate.signals], rel=1e-9
    )
    assert cal_after.score_slope == pytest.approx(cal_before.score_slope, rel=1e-9)


def test_leaking_would_be_visible(rng, profile) -> None:
    """Guard for the test above: with the cutoff at outcome time the late burst shows."""
    events, outcome, _ = world(rng)
    at_outcome = features_as_of_outcomes(profile, events, N, outcome, 0.0)
    at_cutoff = features_as_of_outcomes(profile, events, N, outcome, HORIZON_DAYS)
    assert not np.array_equal(at_outcome.matrix, at_cutoff.matrix)


@pytest.mark.parametrize("horizon", [-1.0, float("nan")])
def test_rejects_bad_horizon(rng, profile, horizon) -> None:
    events, outcome, _ = world(rng)
    with pytest.raises(ValueError):
        features_as_of_outcomes(profile, events, N, outcome, horizon)


def test_rejects_bad_outcome_time(rng, profile) -> None:
    events, outcome, _ = world(rng)
    with pytest.raises(ValueError):
        features_as_of_outcomes(profile, events, N, outcome[:-1], HORIZON_DAYS)
