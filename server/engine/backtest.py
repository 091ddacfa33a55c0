"""Backtests: how well a profile's ranking anticipated outcomes that are now known.

Everything here is rank arithmetic over numpy arrays (one sort per metric, no per-entity
Python). Ties get no luck either way: AUC and Spearman use average ranks, and precision@k
and the decile lifts count a tied group at its expected hit rate, as if its order were
drawn at random. That keeps coarse scores (integers, saturated caps) from being flattered
or punished by the order entities happened to arrive in.

`backtest` evaluates one profile; `compare_rankings` is the shadow comparison of two
rankings of the same entities (active profile vs calibrated candidate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prioscore.server.engine.model import FeatureSet, Profile
from prioscore.server.engine.ranking import top_k
from prioscore.server.engine.scoring import AttributeColumns
from prioscore.server.engine.scoring import score as score_entities

__all__ = [
    "BacktestReport",
    "Comparison",
    "TierRate",
    "average_ranks",
    "backtest",
    "compare_rankings",
    "lift_by_decile",
    "precision_at_k",
    "roc_auc",
    "tier_conversion",
]

DISQUALIFIED = "disqualified"


@dataclass(frozen=True)
class TierRate:
    """Outcome rate of the entities a profile put in one tier."""

    tier: str
    entities: int
    positives: int
    rate: float  # positives / entities; NaN for an empty tier


@dataclass(frozen=True, eq=False)
class BacktestReport:
    """One profile against known outcomes.

    Ranking metrics cover all entities; disqualified entities rank below every scored one
    (they are never surfaced), so a rule that disqualifies converters shows up as lost
    AUC. `tiers` lists the profile's tiers in ascending order, then a "disqualified" entry
    when any entity was disqualified.
    """

    auc: float
    precision_at_k: float
    k: int
    lift_by_decile: np.ndarray  # float64 [10], decile 1 (top scores) first
    tiers: list[TierRate]
    base_rate: float
    entities: int
    disqualified: int = 0


@dataclass(frozen=True, eq=False)
class Comparison:
    """Shadow comparison of two rankings of the same entities."""

    top_k_overlap: float  # |top-k(a) & top-k(b)| / k
    rank_correlation: float  # Spearman, ties averaged; NaN if either score is constant
    tier_moves: np.ndarray  # int64 indices of entities whose tier differs


def _scores(score: np.ndarray, name: str = "score") -> np.ndarray:
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {score.shape}")
    if np.isnan(score).any():
        raise ValueError(f"{name} contains NaN")
    return score


def _labels(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    y = y.astype(np.float64)
    if not ((y == 0) | (y == 1)).all():
        raise ValueError("y must be binary (0/1 or bool)")
    return y


def _tie_groups(sorted_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group id per sorted position, and each group's start (groups = runs of equal scores)."""
    first = np.empty(sorted_scores.shape[0], dtype=bool)
    first[:1] = True
    np.not_equal(sorted_scores[1:], sorted_scores[:-1], out=first[1:])
    return np.cumsum(first) - 1, np.flatnonzero(first)


def average_ranks(score: np.ndarray) -> np.ndarray:
    """1-based ascending ranks, tied scores sharing the mean of the ranks they span."""
    score = _scores(score)
    n = score.shape[0]
    order = np.argsort(score, kind="stable")
    group, starts = _tie_groups(score[order])
    ends = np.append(starts[1:], n)
    ranks = np.empty(n)
    ranks[order] = ((starts + 1 + ends) / 2.0)[group]
    return ranks


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic on average ranks.

    Equals the probability that a random positive outscores a random negative, ties
    counting one half. NaN when only one class is present (the AUC is undefined).
    """
    score = _scores(score)
    y = _labels(y_true, score.shape[0])
    n_pos = float(y.sum())
    n_neg = float(y.shape[0] - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = float(average_ranks(score) @ y)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _expected_hits_by_position(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Positive rate at each position of the descending ranking, ties spread evenly.

    Every position held by a tied group gets the group's positive rate: the expected
    label at that position if the group's internal order were random.
    """
    order = np.argsort(-score, kind="stable")
    group, _ = _tie_groups(-score[order])
    size = np.bincount(group)
    rate = np.bincount(group, weights=y[order]) / size
    return rate[group]


def precision_at_k(y: np.ndarray, score: np.ndarray, k: int) -> float:
    """Share of positives among the k highest scores (ties at the cut count pro rata)."""
    score = _scores(score)
    y = _labels(y, score.shape[0])
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    k = min(int(k), score.shape[0])
    if k == 0:
        return float("nan")
    return float(_expected_hits_by_position(y, score)[:k].sum() / k)


def lift_by_decile(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Positive rate of each score decile over the base rate; decile 1 holds the top scores.

    Deciles are equal slices of the descending ranking (sizes differ by at most one).
    A lift of 3 in decile 1 means the top tenth converts at three times the average.
    Empty deciles (fewer than 10 entities) and a zero base rate give NaN.
    """
    score = _scores(score)
    y = _labels(y, score.shape[0])
    n = score.shape[0]
    lift = np.full(10, np.nan)
    base = float(y.mean()) if n else 0.0
    if base == 0.0:
        return lift
    hits = np.cumsum(np.concatenate(([0.0], _expected_hits_by_position(y, score))))
    edges = (np.arange(11) * n) // 10
    sizes = np.diff(edges)
    nonempty = sizes > 0
    rates = (hits[edges[1:]] - hits[edges[:-1]])[nonempty] / sizes[nonempty]
    lift[nonempty] = rates / base
    return lift


def tier_conversion(
    y: np.ndarray, tier_idx: np.ndarray, tier_names: Sequence[str]
) -> list[TierRate]:
    """Entities, positives and outcome rate per tier (index -1 = disqualified).

    Tiers come in `tier_names` order, each listed even when empty; a "disqualified" entry
    follows when any entity has tier -1.
    """
    tier_idx = np.asarray(tier_idx, dtype=np.int64)
    y = _labels(y, tier_idx.shape[0])
    m = len(tier_names)
    if tier_idx.size and (tier_idx.min() < -1 or tier_idx.max() >= m):
        raise ValueError(f"tier indices must lie in [-1, {m})")
    slot = tier_idx + 1  # 0 = disqualified
    entities = np.bincount(slot, minlength=m + 1)
    positives = np.bincount(slot, weights=y, minlength=m + 1)
    names = [DISQUALIFIED, *tier_names]
    shown = list(range(1, m + 1)) + ([0] if entities[0] else [])
    return [
        TierRate(
            tier=names[i],
            entities=int(entities[i]),
            positives=int(positives[i]),
            rate=float(positives[i] / entities[i]) if entities[i] else float("nan"),
        )
        for i in shown
    ]


def backtest(
    profile: Profile,
    features: FeatureSet,
    attributes: AttributeColumns,
    y: np.ndarray,
    k: int,
) -> BacktestReport:
    """Score `features` with `profile` and measure how the ranking anticipated `y`.

    Use point-in-time features (calibration.features_as_of_outcomes) so the backtest
    sees what the profile would have seen when the ranking was made.
    """
    result = score_entities(profile, features, attributes)
    disqualified = np.asarray(result.disqualified, dtype=bool)
    ranked = np.where(disqualified, -np.inf, np.asarray(result.score, dtype=np.float64))
    y = _labels(y, ranked.shape[0])
    return BacktestReport(
        auc=roc_auc(y, ranked),
        precision_at_k=precision_at_k(y, ranked, k),
        k=int(min(k, ranked.shape[0])),
        lift_by_decile=lift_by_decile(y, ranked),
        tiers=tier_conversion(y, result.tier, profile.tiers.names),
        base_rate=float(y.mean()) if y.size else float("nan"),
        entities=int(y.shape[0]),
        disqualified=int(disqualified.sum()),
    )


def compare_rankings(
    score_a: np.ndarray,
    score_b: np.ndarray,
    tier_a: np.ndarray,
    tier_b: np.ndarray,
    k: int,
) -> Comparison:
    """How much two rankings of the same entities agree, for a shadow run.

    top_k_overlap: fraction of ranking a's top k that is also in b's top k (ties at the
    cut broken by entity index). rank_correlation: Spearman's rho, i.e. the Pearson
    correlation of average ranks. tier_moves: entities whose tier differs, for review.
    Disqualified entities should be passed with score -inf so they rank last.
    """
    score_a = _scores(score_a, "score_a")
    score_b = _scores(score_b, "score_b")
    tier_a = np.asarray(tier_a)
    tier_b = np.asarray(tier_b)
    n = score_a.shape[0]
    if score_b.shape != (n,) or tier_a.shape != (n,) or tier_b.shape != (n,):
        raise ValueError("score_a, score_b, tier_a and tier_b must all have shape (n,)")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    k = min(int(k), n)
    if k:
        both = np.intersect1d(top_k(score_a, k), top_k(score_b, k), assume_unique=True)
        overlap = both.size / k
    else:
        overlap = float("nan")
    ra = average_ranks(score_a)
    rb = average_ranks(score_b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.sqrt((ra @ ra) * (rb @ rb)))
    rho = float(ra @ rb) / denom if denom > 0 else float("nan")
    return Comparison(
        top_k_overlap=float(overlap),
        rank_correlation=rho,
        tier_moves=np.flatnonzero(tier_a != tier_b).astype(np.int64),
    )
