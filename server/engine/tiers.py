"""Tier assignment: the tier index per entity from its score and the profile's cut points.

Absolute tiers are decided per row span inside the scoring pass; quantile tiers need the
whole eligible population's scores, so scoring assigns them after the pass.
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
