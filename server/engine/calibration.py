"""Predictive weights: fit a profile's signal weights to observed outcomes.

`features_as_of_outcomes` rebuilds each entity's features as they were `horizon_days`
before its outcome (nothing the ranking could not have known leaks in); `fit_logistic`
is L2-regularised logistic regression by Newton/IRLS in numpy, sized for millions of
entities; `calibrate_profile` clips features as scoring does, fits, and turns the
coefficients into a candidate profile plus a score -> probability calibration. The
candidate is a proposal: `engine.backtest` compares it with the active profile first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from prioscore.server.engine.features import compute_features
from prioscore.server.engine.model import (
    SECONDS_PER_DAY,
    EventColumns,
    FeatureSet,
    Profile,
    Signal,
)

__all__ = [
    "Calibration",
    "LogisticFit",
    "calibrate_profile",
    "clip_to_bands",
    "engagement_score",
    "features_as_of_outcomes",
    "fit_logistic",
    "sigmoid",
    "signal_bands",
]


@dataclass(frozen=True, eq=False)
class LogisticFit:
    """Result of `fit_logistic`, on the caller's (unstandardised) feature scale.

    P(y=1 | x) = sigmoid(x @ coef + intercept). `loglik` is the weighted log-likelihood
    without the penalty, so fits with different l2 can be compared on the same data.
    """

    coef: np.ndarray  # float64 [n_features]
    intercept: float
    n_iter: int
    converged: bool
    loglik: float


@dataclass(frozen=True, eq=False)
class Calibration:
    """A candidate profile fitted to outcomes, plus the score -> probability map.

    P(outcome | candidate engagement score s on 0-100) = sigmoid(score_slope * s +
    score_intercept).
    """

    candidate: Profile
    fit: LogisticFit
    score_slope: float
    score_intercept: float

    def probability(self, score: np.ndarray) -> np.ndarray:
        """Outcome probability of candidate scores (0-100), per the 1-D calibration."""
        return sigmoid(
            self.score_slope * np.asarray(score, dtype=np.float64) + self.score_intercept
        )


def sigmoid(eta: np.ndarray) -> np.ndarray:
    """Logistic function in one temporary; clipping at +-700 keeps exp finite (no warning)."""
    z = np.clip(np.asarray(eta, dtype=np.float64), -700.0, 700.0)
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    return np.reciprocal(z, out=z)


def features_as_of_outcomes(
    profile: Profile,
    events: EventColumns,
    n_entities: int,
    outcome_time: np.ndarray,
    horizon_days: float,
) -> FeatureSet:
    """Features of each entity as they stood `horizon_days` before its own outcome.

    Training on features computed at outcome time would let the behaviour that *is* the
    conversion (the signup, the cancellation page) predict itself. Each entity's cutoff is
    outcome_time - horizon_days; compute_features ignores events after an entity's as_of,
    so no post-cutoff event can reach the fit.
    """
    outcome_time = np.asarray(outcome_time, dtype=np.float64)
    if outcome_time.shape != (n_entities,):
        raise ValueError(f"outcome_time must have shape ({n_entities},), got {outcome_time.shape}")
    if not np.isfinite(outcome_time).all():
        raise ValueError("outcome_time must be finite for every entity")
    if not np.isfinite(horizon_days) or horizon_days < 0:
        raise ValueError(f"horizon_days must be a finite number >= 0, got {horizon_days}")
    as_of = outcome_time - float(horizon_days) * SECONDS_PER_DAY
    return compute_features(profile, events, n_entities, as_of)


# Below this Newton step (standardised) the Hessian barely moves: reuse it, skipping the
# n * (p+1)^2 product; the chord steps then contract at about this rate.
_REUSE_HESSIAN_BELOW = 1e-3
_WARM_START_ROWS = 100_000  # above twice this, first fit a strided subsample this size


def _neg_loglik(eta: np.ndarray, swy: np.ndarray, sw: np.ndarray) -> float:
    """Weighted negative log-likelihood sum s_i (log(1 + e^eta_i) - y_i eta_i).

    log(1 + e^eta) = max(eta, 0) + log1p(e^-|eta|): exact for any eta and several times
    faster than np.logaddexp on a million rows, all in one temporary.
    """
    z = np.abs(eta)
    np.negative(z, out=z)
    np.exp(z, out=z)
    np.log1p(z, out=z)
    z += np.maximum(eta, 0.0)
    return float(sw @ z - swy @ eta)


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    max_iter: int = 50,
    tol: float = 1e-8,
    sample_weight: np.ndarray | None = None,
) -> LogisticFit:
    """L2-regularised logistic regression by Newton's method (IRLS), numpy only.

    Minimises  sum_i s_i * logloss(y_i, x_i @ coef + b)  +  l2 / 2 * ||coef * sd||^2,
    where sd is the (weighted, ddof=0) standard deviation of each column: the penalty acts
    on standardised coefficients, so the shrinkage of a feature does not depend on its
    unit (a recency in days or in hours is penalised the same) and l2 means the same thing
    across profiles. It equals scikit-learn's LogisticRegression(C=1/l2) fitted on
    StandardScaler output. The intercept is not penalised.

    Columns are standardised internally because raw features span many orders of
    magnitude (counts, days, seconds); Newton on the raw scale would solve badly
    conditioned systems. Constant columns carry no information: their coefficient is 0
    and they are left out of the Newton system (so l2=0 stays solvable).

    Convergence: the largest Newton step on the standardised coefficients is below
    `tol`; `n_iter` counts full-data iterations. Memory: two n x (p+1) float64 buffers
    (about 0.5 GB for 1M x 32) besides X. Cost per iteration: see `_newton`.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or y.shape != X.shape[:1]:
        raise ValueError(f"need X [n > 0, p] and y [n], got {X.shape} and {y.shape}")
    n, p = X.shape
    if not np.isfinite(X).all():
        raise ValueError("X must be finite (no NaN or inf)")
    if not (np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()):
        raise ValueError("y must lie in [0, 1]")
    if l2 < 0 or not np.isfinite(l2):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2}")
    if sample_weight is None:
        sw = np.ones(n)
    else:
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.shape != (n,) or not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite, >= 0 and of shape (n,)")
    total = float(sw.sum())
    if total <= 0:
        raise ValueError("sample_weight sums to zero")

    A, mean, sd, active = _standardised_design(X, sw, total)
    penalty = np.full(active.size + 1, float(l2))
    penalty[0] = 0.0
    ybar = float(sw @ y) / total
    beta = np.zeros(active.size + 1)
    beta[0] = np.log(ybar / (1 - ybar)) if 0.0 < ybar < 1.0 else 0.0
    if n >= 2 * _WARM_START_ROWS:
        # Warm start on every m-th row, weights scaled by m so the data/penalty balance is
        # that of the full problem: the full-data Newton then starts within sampling error
        # of the optimum and needs ~3 iterations (mostly with a reused Hessian), not ~6.
        m = n // _WARM_START_ROWS
        sub = slice(None, None, m)
        beta = _newton(A[sub].copy(), y[sub], sw[sub] * m, penalty, beta, 2 * max_iter, 1e-3)[0]
    beta, eta, n_iter, converged = _newton(A, y, sw, penalty, beta, max_iter, tol)

    coef = np.zeros(p)
    coef[active] = beta[1:] / sd[active]
    intercept = float(beta[0] - coef[active] @ mean[active])
    loglik = -_neg_loglik(eta, sw * y, sw)
    return LogisticFit(
        coef=coef, intercept=intercept, n_iter=n_iter, converged=converged, loglik=loglik
    )


def _newton(
    A: np.ndarray,
    y: np.ndarray,
    sw: np.ndarray,
    penalty: np.ndarray,
    beta: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Damped Newton on the standardised design A: (beta, eta = A @ beta, iterations, ok).

    An iteration is a gemv for the gradient, one for the linear predictor and, for the
    (p+1) x (p+1) Hessian, B.T @ B with B = A * sqrt(w): numpy hands a matrix times its
    own transpose to BLAS syrk, half the flops of the gemm in X.T @ (X * w). Once steps
    are tiny the Hessian is reused. A step that raises the objective is halved, which
    keeps separable or badly scaled data from diverging.
    """
    B = np.empty_like(A)
    swy = sw * y
    eta = A @ beta
    obj = _neg_loglik(eta, swy, sw) + 0.5 * float(penalty @ beta**2)
    converged = False
    n_iter = 0
    hess: np.ndarray | None = None
    last_step = np.inf
    while n_iter < max_iter:
        n_iter += 1
        prob = sigmoid(eta)
        grad = A.T @ (swy - sw * prob) - penalty * beta
        if hess is None or last_step > _REUSE_HESSIAN_BELOW:
            w = prob * (1.0 - prob)
            w *= sw
            np.multiply(A, np.sqrt(w, out=w)[:, None], out=B)
            hess = B.T @ B
            hess[np.diag_indices_from(hess)] += penalty
        step = _solve(hess, grad)

        # Step halving: accept the first fraction that does not increase the objective
        # (beyond rounding of a sum over n terms).
        t = 1.0
        for _ in range(40):
            cand = beta + t * step
            eta_c = A @ cand
            obj_c = _neg_loglik(eta_c, swy, sw) + 0.5 * float(penalty @ cand**2)
            if obj_c <= obj + 1e-12 * max(abs(obj), 1.0):
                break
            t *= 0.5
        else:  # no decrease in any direction we can represent: we are at the optimum
            converged = bool(np.max(np.abs(step)) < np.sqrt(tol))
            break
        beta, eta, obj = cand, eta_c, obj_c
        # Judge the full Newton step, not the halved one: a tiny accepted fraction of a
        # large step (separable data) is not convergence.
        last_step = float(np.max(np.abs(step)))
        if last_step < tol:
            converged = True
            break
    return beta, eta, n_iter, converged


def _standardised_design(
    X: np.ndarray, sw: np.ndarray, total: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A = [1, (X[:, active] - mean) / sd] plus mean, sd and the non-constant columns.

    One blocked pass centres X into A and accumulates the weighted variances while the
    block is in cache (no full-size temporaries beside A). A column is constant when its
    weighted sd is 0 or below 1e-12 of its mean, i.e. only rounding of the mean is left.
    """
    n, p = X.shape
    mean = (sw @ X) / total
    A = np.empty((n, p + 1))
    A[:, 0] = 1.0
    acc = np.zeros(p)
    rows = 8192
    for start in range(0, n, rows):
        block = A[start : start + rows, 1:]
        np.subtract(X[start : start + rows], mean, out=block)
        acc += sw[start : start + rows] @ (block * block)
    sd = np.sqrt(acc / total)
    active = np.flatnonzero(sd > 1e-12 * np.abs(mean))
    if active.size < p:  # rare: drop constant columns (one copy)
        A = A[:, np.concatenate(([0], active + 1))]
    A[:, 1:] /= sd[active]
    return A, mean, sd, active


def _solve(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Newton step; least squares when the Hessian is singular (collinear columns, l2=0)."""
    try:
        return np.linalg.solve(hess, grad)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(hess, grad, rcond=None)[0]


def signal_bands(profile: Profile) -> np.ndarray:
    """Per-signal half-width of the feature range that scoring can tell apart.

    points = clip(weight * f, -cap, cap) = weight * clip(f, -cap/|w|, cap/|w|), so a
    feature beyond cap/|weight| earns no more points. Uncapped or zero-weight signals
    have an infinite band (a zero weight earns nothing whatever the feature).
    """
    bands = np.full(len(profile.signals), np.inf)
    for j, s in enumerate(profile.signals):
        if s.cap is not None and s.weight != 0:
            bands[j] = abs(float(s.cap)) / abs(float(s.weight))
    return bands


def clip_to_bands(profile: Profile, matrix: np.ndarray) -> np.ndarray:
    """The feature matrix as scoring sees it: each column clipped to its signal's band."""
    bands = signal_bands(profile)
    return np.clip(np.asarray(matrix, dtype=np.float64), -bands, bands)


def engagement_score(profile: Profile, matrix: np.ndarray) -> np.ndarray:
    """Engagement on 0-100: 100 * clip(sum clip(w*f, -cap, cap), 0, max_points) / max_points.

    The formula of engine.scoring (see model.Profile), restated here so calibration can
    score a candidate from a feature matrix alone, without attributes.
    """
    weights = np.array([s.weight for s in profile.signals], dtype=np.float64)
    points = clip_to_bands(profile, matrix) * weights
    if profile.max_points <= 0:  # as scoring: no scale, no engagement
        return np.zeros(points.shape[0])
    total = np.clip(points.sum(axis=1), 0.0, profile.max_points)
    return 100.0 * total / profile.max_points


def _candidate_signals(profile: Profile, coef: np.ndarray) -> tuple[Signal, ...]:
    """Map fitted coefficients onto the active profile's points scale.

    weights = coef * (max |active weight| / max |coef|): the strongest signal earns as
    many points per unit as the active profile's strongest, so max_points and the tier
    thresholds keep roughly their meaning. Only the ratios between weights matter for
    ranking, and those are the fitted ones. caps = band * |new weight|, so every signal
    saturates at the same feature value as in the fit (a capped signal stays capped, an
    uncapped one stays uncapped). A zero-weight active signal was fitted unclipped, so its
    candidate is uncapped; a signal whose new weight is 0 keeps its old cap (it earns 0).
    """
    active_w = np.array([abs(s.weight) for s in profile.signals], dtype=np.float64)
    reference = float(active_w.max()) if active_w.size and active_w.max() > 0 else 1.0
    largest = float(np.abs(coef).max()) if coef.size else 0.0
    scale = reference / largest if largest > 0 else 1.0
    bands = signal_bands(profile)
    signals = []
    for s, c, band in zip(profile.signals, coef, bands, strict=True):
        weight = float(c * scale)
        if s.cap is None or weight == 0.0:
            cap = s.cap
        elif np.isinf(band):
            cap = None
        else:
            cap = float(band * abs(weight))
        signals.append(dataclasses.replace(s, weight=weight, cap=cap))
    return tuple(signals)


def calibrate_profile(
    profile: Profile,
    features: FeatureSet,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    sample_weight: np.ndarray | None = None,
) -> Calibration:
    """Fit the profile's signal weights to outcomes `y` and propose a candidate profile.

    The features are clipped to each signal's band first, exactly as scoring clips them,
    so the fit learns the effect of what the score can actually use. Entities eliminated by
    an eliminatory category are left out: they are never ranked, so they say nothing about
    how ranking should weigh behaviour. The candidate keeps names, order, events, caps
    semantics, tiers, fit and disqualify rules, and has version + 1 (see
    `_candidate_signals` for the weight/cap mapping). The intercept cannot be expressed as
    points; it lives in the score calibration p = sigmoid(a * score + b), fitted on the
    candidate's 0-100 engagement score.
    """
    matrix = np.asarray(features.matrix, dtype=np.float64)
    n, p = matrix.shape
    if p != len(profile.signals):
        raise ValueError(f"features have {p} columns, profile has {len(profile.signals)} signals")
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    keep = np.asarray(features.eliminated_by) < 0
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[keep]
    clipped = clip_to_bands(profile, matrix[keep])
    fit = fit_logistic(clipped, y[keep], l2=l2, sample_weight=sw)

    candidate = dataclasses.replace(
        profile,
        signals=_candidate_signals(profile, fit.coef),
        version=profile.version + 1,
    )
    score = engagement_score(candidate, clipped)
    score_fit = fit_logistic(score[:, None], y[keep], l2=l2, sample_weight=sw)
    return Calibration(
        candidate=candidate,
        fit=fit,
        score_slope=float(score_fit.coef[0]),
        score_intercept=score_fit.intercept,
    )
