"""fit_logistic: recovers known weights, matches scikit-learn, survives awkward inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from prioscore.server.engine import calibration
from prioscore.server.engine.calibration import fit_logistic, sigmoid

# With n = 200k and features of unit-ish spread the standard error of each coefficient is
# about 0.005-0.01, so 0.05 is a > 5 sigma bound that a correct fit meets on any seed.
RECOVERY_TOL = 0.05
TRUE_COEF = np.array([0.8, -0.5, 0.3, 0.0, 1.2, -0.05])
TRUE_INTERCEPT = -1.0


def synthetic(rng: np.random.Generator, labels_from, n: int = 200_000):
    # Mixed scales and offsets, as real features have (counts, days, flags).
    scale = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 10.0])
    shift = np.array([0.0, 1.0, -1.0, 3.0, 0.0, 5.0])
    X = rng.standard_normal((n, TRUE_COEF.size)) * scale + shift
    X[:, 4] = rng.random(n) < 0.3  # a 0/1 "exists" feature
    y = labels_from(rng, X, TRUE_COEF, TRUE_INTERCEPT)
    return X, y


def test_recovers_known_weights(rng, labels_from) -> None:
    X, y = synthetic(rng, labels_from)
    fit = fit_logistic(X, y, l2=1e-8)
    assert fit.converged
    assert fit.n_iter < 15
    assert np.max(np.abs(fit.coef - TRUE_COEF)) < RECOVERY_TOL
    assert abs(fit.intercept - TRUE_INTERCEPT) < 2 * RECOVERY_TOL


@pytest.mark.parametrize("l2", [1e-6, 1.0, 1000.0])
def test_matches_sklearn_on_standardised_columns(rng, labels_from, l2: float) -> None:
    """The documented objective: sklearn's C = 1/l2 on StandardScaler output."""
    X, y = synthetic(rng, labels_from, n=20_000)
    fit = fit_logistic(X, y, l2=l2)
    scaler = StandardScaler().fit(X)
    ref = LogisticRegression(C=1.0 / l2, tol=1e-12, max_iter=10_000).fit(scaler.transform(X), y)
    coef = ref.coef_[0] / scaler.scale_
    intercept = ref.intercept_[0] - coef @ scaler.mean_
    np.testing.assert_allclose(fit.coef, coef, rtol=1e-5, atol=1e-7)
    assert fit.intercept == pytest.approx(intercept, rel=1e-5, abs=1e-7)


def test_loglik_is_unpenalised_log_likelihood(rng, labels_from) -> None:
    X, y = synthetic(rng, labels_from, n=5_000)
    fit = fit_logistic(X, y, l2=10.0)
    p = sigmoid(X @ fit.coef + fit.intercept)
    expected = float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert fit.loglik == pytest.approx(expected, rel=1e-10)


def test_intercept_only_optimum_matches_base_rate(rng, labels_from) -> None:
    """With an unpenalised intercept, mean predicted probability equals the base rate."""
    X, y = synthetic(rng, labels_from, n=10_000)
    fit = fit_logistic(X, y, l2=50.0)
    assert sigmoid(X @ fit.coef + fit.intercept).mean() == pytest.approx(y.mean(), abs=1e-9)


def test_constant_columns_get_zero_coefficient(rng, labels_from) -> None:
    X, y = synthetic(rng, labels_from, n=20_000)
    with_const = np.column_stack([X[:, :2], np.full(X.shape[0], 7.0), X[:, 2:]])
    fit = fit_logistic(with_const, y, l2=0.0)
    plain = fit_logistic(X, y, l2=0.0)
    assert fit.coef[2] == 0.0
    np.testing.assert_allclose(np.delete(fit.coef, 2), plain.coef, rtol=1e-9)
    assert fit.intercept == pytest.approx(plain.intercept, rel=1e-9)


def test_all_constant_features_fit_the_base_rate() -> None:
    y = np.array([1.0, 0.0, 0.0, 0.0])
    fit = fit_logistic(np.ones((4, 2)), y)
    assert fit.converged
    np.testing.assert_array_equal(fit.coef, [0.0, 0.0])
    assert fit.intercept == pytest.approx(np.log(0.25 / 0.75))


def test_sample_weight_equals_row_duplication(rng, labels_from) -> None:
    X, y = synthetic(rng, labels_from, n=3_000)
    counts = rng.integers(0, 4, size=X.shape[0])
    weighted = fit_logistic(X, y, l2=2.0, sample_weight=counts.astype(float))
    repeated = fit_logistic(np.repeat(X, counts, axis=0), np.repeat(y, counts), l2=2.0)
    np.testing.assert_allclose(weighted.coef, repeated.coef, rtol=1e-8, atol=1e-10)
    assert weighted.intercept == pytest.approx(repeated.intercept, rel=1e-8)


def test_separable_data_stays_finite_and_reports_non_convergence() -> None:
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    fit = fit_logistic(X, y, l2=0.0, max_iter=30)
    assert np.isfinite(fit.coef).all() and np.isfinite(fit.intercept)
    assert fit.coef[0] > 0
    assert not fit.converged
    # A little ridge makes the same problem well posed.
    assert fit_logistic(X, y, l2=0.1).converged


def test_float32_and_int_inputs(rng, labels_from) -> None:
    X, y = synthetic(rng, labels_from, n=5_000)
    a = fit_logistic(X.astype(np.float32), y.astype(np.int8))
    b = fit_logistic(X.astype(np.float32).astype(np.float64), y)
    np.testing.assert_allclose(a.coef, b.coef)


@pytest.mark.parametrize(
    ("X", "y", "kwargs"),
    [
        (np.zeros(3), np.zeros(3), {}),
        (np.zeros((3, 1)), np.zeros(2), {}),
        (np.array([[np.nan], [0.0]]), np.zeros(2), {}),
        (np.zeros((2, 1)), np.array([0.0, 2.0]), {}),
        (np.zeros((2, 1)), np.zeros(2), {"l2": -1.0}),
        (np.zeros((2, 1)), np.zeros(2), {"sample_weight": np.array([1.0, -1.0])}),
        (np.zeros((0, 1)), np.zeros(0), {}),
    ],
)
def test_rejects_bad_input(X, y, kwargs) -> None:
    with pytest.raises(ValueError):
        fit_logistic(X, y, **kwargs)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(20, 400),
    p=st.integers(1, 6),
    l2=st.sampled_from([1e-3, 0.1, 1.0, 30.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_optimality_conditions_hold(n: int, p: int, l2: float, seed: int) -> None:
    """At the returned point the penalised gradient vanishes (KKT), whatever the scales."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * 10.0 ** rng.uniform(-3, 3, p) + rng.uniform(-50, 50, p)
    y = (rng.random(n) < 0.3).astype(float)
    if y.min() == y.max():
        y[0] = 1.0 - y[0]
    fit = fit_logistic(X, y, l2=l2)
    assert fit.converged
    resid = y - sigmoid(X @ fit.coef + fit.intercept)
    sd = X.std(axis=0)
    # Gradient in standardised coordinates: (X - mean)/sd . resid = l2 * coef * sd.
    grad = ((X - X.mean(axis=0)) / sd).T @ resid - l2 * fit.coef * sd
    assert abs(resid.sum()) < 1e-6 * n
    np.testing.assert_allclose(grad, 0.0, atol=1e-6 * n)


def test_warm_start_reaches_the_same_optimum(rng, labels_from, monkeypatch) -> None:
    """Above 2 x _WARM_START_ROWS a subsample fit seeds Newton; the answer must not move."""
    X, y = synthetic(rng, labels_from, n=60_000)
    monkeypatch.setattr(calibration, "_WARM_START_ROWS", 10_000)
    warm = fit_logistic(X, y, l2=1.0)
    monkeypatch.setattr(calibration, "_WARM_START_ROWS", 10**9)
    cold = fit_logistic(X, y, l2=1.0)
    assert warm.converged and cold.converged
    np.testing.assert_allclose(warm.coef, cold.coef, rtol=1e-7, atol=1e-9)
    assert warm.intercept == pytest.approx(cold.intercept, rel=1e-7, abs=1e-9)
    assert warm.loglik == pytest.approx(cold.loglik, rel=1e-12)
