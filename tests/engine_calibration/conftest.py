"""Shared builders for the calibration/backtest tests: small profiles and synthetic outcomes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from prioscore.server.engine.model import Aggregate, Profile, Signal, TierMode, Tiers

ProfileFactory = Callable[..., Profile]


def make_profile(
    weights: Sequence[float] = (10.0, 5.0, -4.0),
    caps: Sequence[float | None] = (40.0, None, 20.0),
    *,
    aggregates: Sequence[Aggregate] | None = None,
    missing: Sequence[float] | None = None,
    max_points: float = 100.0,
) -> Profile:
    """A profile with one signal per weight, on events named e0, e1, ..."""
    n = len(weights)
    aggregates = aggregates or [Aggregate.COUNT] * n
    missing = missing or [0.0] * n
    signals = tuple(
        Signal(
            name=f"s{j}",
            event=f"e{j}",
            aggregate=aggregates[j],
            weight=float(weights[j]),
            cap=caps[j],
            missing=missing[j],
        )
        for j in range(n)
    )
    return Profile(
        name="test_profile",
        version=3,
        entity="contact",
        signals=signals,
        tiers=Tiers(mode=TierMode.ABSOLUTE, names=("cold", "warm", "hot"), thresholds=(0, 40, 70)),
        max_points=max_points,
    )


def logistic_labels(
    rng: np.random.Generator, X: np.ndarray, coef: np.ndarray, intercept: float
) -> np.ndarray:
    """Labels ~ Bernoulli(sigmoid(X @ coef + intercept))."""
    p = 1.0 / (1.0 + np.exp(-(X @ coef + intercept)))
    return (rng.random(X.shape[0]) < p).astype(np.float64)


@pytest.fixture
def profile_factory() -> ProfileFactory:
    return make_profile


@pytest.fixture
def labels_from() -> Callable[..., np.ndarray]:
    return logistic_labels


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)
