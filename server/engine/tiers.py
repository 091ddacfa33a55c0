"""Tier assignment: the tier index per entity from its score and the profile's cut points.

Absolute tiers are decided per row span inside the scoring pass; quantile tiers need the
whole eligible population's scores, so scoring assigns them after the pass. `hold_tiers`
is alert hysteresis: where stored scores are written, it decides which tier to keep.
"""

from __future__ import annotations

import numpy as np

from prioscore.server.engine.model import TierMode, Tiers


def absolute_tiers(cuts: np.ndarray, score: np.ndarray, out: np.ndarray) -> None:
    """out = last cut <= score (searchsorted side="right" - 1, floored at 0); with few
    cuts, counting the cuts passed is the same answer ~5x faster on 1M unsorted scores."""
    if cuts.size > 8:
        np.maximum(np.searchsorted(cuts, score, side="right") - 1, 0, out=out, casting="unsafe")
        return
    out[:] = 0
    for cut in cuts[1:]:
        out += score >= cut


def assign_tiers(tiers: Tiers, score: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """Tier index per entity (int32), -1 where not eligible.

    Absolute: thresholds are scores. Quantile: thresholds are population fractions; the
    cut points are np.quantile of the eligible scores, then the absolute rule applies.
    """
    score = np.asarray(score, dtype=np.float64)
    cuts = np.asarray(tiers.thresholds, dtype=np.float64)
    mask = None if eligible is None else np.asarray(eligible, dtype=bool)
    if TierMode(tiers.mode) is TierMode.QUANTILE and cuts.size:
        population = score if mask is None else score[mask]
        cuts = np.quantile(population, cuts) if population.size else np.full_like(cuts, np.inf)
    tier = np.empty(score.shape[0], dtype=np.int32)
    absolute_tiers(cuts, score, tier)
    if mask is not None:
        tier[~mask] = -1
    return tier


def grid_tiers(
    tiers: Tiers, engagement: np.ndarray, fit: np.ndarray, eligible: np.ndarray | None = None
) -> np.ndarray:
    """Grid mode: tier = level * n_grades + grade (int32), -1 where not eligible; grade
    from fit and level from engagement by the same cut rule as absolute tiers."""
    grade_cuts = np.array([t for _, t in tiers.grades], dtype=np.float64)
    level_cuts = np.array([t for _, t in tiers.levels], dtype=np.float64)
    grade = np.empty(engagement.shape[0], dtype=np.int32)
    level = np.empty(engagement.shape[0], dtype=np.int32)
    absolute_tiers(grade_cuts, np.asarray(fit, dtype=np.float64), grade)
    absolute_tiers(level_cuts, np.asarray(engagement, dtype=np.float64), level)
    tier = level * np.int32(len(tiers.grades)) + grade
    if eligible is not None:
        tier[~np.asarray(eligible, dtype=bool)] = -1
    return tier


def hold_tiers(
    cuts: np.ndarray,
    previous_tier: np.ndarray,
    held_days: np.ndarray,
    score: np.ndarray,
    tier: np.ndarray,
    *,
    margin: float,
    min_days_in_tier: float,
) -> np.ndarray:
    """The tier to store per entity, given its previous stored tier (-1 = none) and how
    many days it has held it, its new score and the tier the score alone earns.

    Two gates cut alert noise, and a tier changes only when both pass (each passes when
    its setting is 0): the margin gate moves an entity only as far as its score clears
    the boundaries by `margin` points (new = clip(previous, tier(score - margin),
    tier(score + margin)), so a score wobbling around a cut keeps its tier); the dwell
    gate keeps the previous tier until it has been held `min_days_in_tier`. Entities
    without a previous tier, and unranked ones (tier -1), take `tier` as it is.
    `cuts` are the absolute cut points in force (quantile cut points for quantile tiers).
    """
    previous = np.asarray(previous_tier, dtype=np.int32)
    new = np.asarray(tier, dtype=np.int32)
    held = previous.copy()
    if margin > 0:
        score = np.asarray(score, dtype=np.float64)
        low, high = np.empty_like(new), np.empty_like(new)
        absolute_tiers(cuts, score - margin, low)
        absolute_tiers(cuts, score + margin, high)
        np.clip(held, low, high, out=held)
    else:
        held = new.copy()
    if min_days_in_tier > 0:
        settled = np.asarray(held_days, dtype=np.float64) >= min_days_in_tier
        held = np.where(settled, held, previous)
    return np.where((previous < 0) | (new < 0), new, held).astype(np.int32)
