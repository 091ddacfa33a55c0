"""CompareProfiles: the shadow comparison on live data.

Every stored entity the active profile scores (its kind) is scored as of now under the
active profile and under a candidate, read-only, and the two rankings are compared.

The population is scored COMPARE_CHUNK ids at a time. Loading a step's events and
turning them into columns are single C calls that keep the GIL (np.fromiter over the
rows, the categorical codes of each string property), so over a whole population (2M
events for 200k contacts) they took it for seconds at a stretch, in which the serving
loop answered nothing, health checks included. A step bounds each such stretch; the
steps' results are joined, and quantile tiers cut on the joined population, so the
comparison is the one a single pass gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prioscore.server.engine import (
    Comparison,
    Profile,
    ScoreResult,
    TierMode,
    assign_tiers,
    compare_rankings,
)
from prioscore.server.errors import InvalidArgumentError
from prioscore.server.handlers.evaluation import EvaluationContext, Resolving, check_k, ranked
from prioscore.server.handlers.paging import page_size
from prioscore.server.profiles import load_profile_text

__all__ = ["COMPARE_CHUNK", "MAX_TIER_MOVES", "CompareJob", "CompareResult", "compare_job"]

DEFAULT_TIER_MOVES = 100
MAX_TIER_MOVES = 1000
COMPARE_CHUNK = 5_000  # ids per scoring step (module docstring)


@dataclass(frozen=True, eq=False)
class CompareResult:
    """Active profile vs candidate over the same stored entities, scored as of now.

    `moves` indexes entity_ids: the entities whose tier name differs, largest
    |candidate score - active score| first (ties by entity id), at most the requested
    limit; `moves_total` counts them all. Tier names are "" for disqualified.
    """

    active: Profile
    candidate: Profile
    entity_ids: list[str]
    comparison: Comparison
    from_tier: np.ndarray  # object [n]: tier name under the active profile
    to_tier: np.ndarray  # object [n]: tier name under the candidate
    score_change: np.ndarray  # float64 [n]: candidate score - active score
    moves: np.ndarray  # int64 [<= limit]
    moves_total: int


def score_population(
    ctx: EvaluationContext, profile: Profile, ids: list[str], now: float, chunk: int
) -> ScoreResult:
    """`profile` over ids as of `now`, `chunk` ids per step (see the module docstring);
    quantile tiers are cut on the whole of ids, as one pass would cut them."""
    steps = range(0, max(len(ids), 1), chunk)
    parts = [
        ctx.scorer.score(profile, ids[i : i + chunk], now, explain=False).result for i in steps
    ]
    if len(parts) == 1:
        return parts[0]

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    score, disqualified, tier = joined("score"), joined("disqualified"), joined("tier")
    if TierMode(profile.tiers.mode) is TierMode.QUANTILE:
        tier = assign_tiers(profile.tiers, score, ~disqualified)
    return ScoreResult(
        score=score,
        engagement=joined("engagement"),
        fit=joined("fit"),
        tier=tier,
        disqualified=disqualified,
        disqualify_reason=joined("disqualify_reason"),
    )


@dataclass(frozen=True, eq=False)
class CompareJob:
    """A loaded profile and a candidate over the stored entities of its kind, as of `now`
    (read on the caller's clock: the job may run in another process)."""

    active: Profile
    candidate: Profile
    k: int
    limit: int
    now: float

    def run(self, ctx: EvaluationContext) -> CompareResult:
        active, candidate = self.active, self.candidate
        # Stored entities the profile scores on ingest: those of its kind.
        ids = ctx.store.entity_ids(kind=active.entity)
        a = score_population(ctx, active, ids, self.now, COMPARE_CHUNK)
        b = score_population(ctx, candidate, ids, self.now, COMPARE_CHUNK)
        ranked_a, from_tier = ranked(active, a)
        ranked_b, to_tier = ranked(candidate, b)
        comparison = compare_rankings(ranked_b, ranked_a, to_tier, from_tier, self.k)
        change = np.asarray(b.score, dtype=np.float64) - np.asarray(a.score, dtype=np.float64)
        moved = comparison.tier_moves
        # Largest |score change| first; the stable sort keeps entity-id order among ties.
        order = np.argsort(-np.abs(change[moved]), kind="stable")
        return CompareResult(
            active=active,
            candidate=candidate,
            entity_ids=ids,
            comparison=comparison,
            from_tier=from_tier,
            to_tier=to_tier,
            score_change=change,
            moves=moved[order[: self.limit]],
            moves_total=int(moved.size),
        )


def compare_job(
    resolving: Resolving,
    *,
    profile_name: str,
    candidate_toml: str = "",
    candidate_profile: str = "",
    candidate_shadow: bool = False,
    k: int = 0,
    limit: int = 0,
) -> CompareJob:
    """Shadow comparison of a loaded profile and a candidate over the stored entities.

    The candidate is a loaded profile (`candidate_profile`), TOML (`candidate_toml`,
    issues named after "<candidate>") or the shadow staged for the profile
    (`candidate_shadow`, server/handlers/shadows.py); it must score the same entity kind.
    Read-only: nothing is stored, the candidate is not loaded. `limit`: tier moves
    returned (0 means 100, at most 1000).
    """
    catalog = resolving.catalog
    active = catalog.get(profile_name, "profile")
    if candidate_toml:
        field = "candidate_toml"
        # Raises ProfileInvalidError (INVALID_ARGUMENT) with file/line/key issues.
        candidate = load_profile_text(candidate_toml, "<candidate>")
    elif candidate_profile:
        field = "candidate_profile"
        candidate = catalog.get(candidate_profile, field)
    elif candidate_shadow:
        field = "candidate_shadow"
        candidate = catalog.require_shadow(active.name, field).candidate
    else:
        raise InvalidArgumentError.of(
            "candidate", "required: candidate_toml, candidate_profile or candidate_shadow"
        )
    if candidate.entity != active.entity:
        raise InvalidArgumentError.of(
            field,
            f"scores entity {candidate.entity!r}, but {active.name} scores {active.entity!r}",
        )
    k = check_k(k)
    limit = page_size(limit, MAX_TIER_MOVES, default=DEFAULT_TIER_MOVES)
    return CompareJob(active, candidate, k, limit, resolving.clock())
