"""Loaded inputs -> engine -> score rows: the part of scoring that does not care where the
events came from. StoredScorer feeds it from SQLite, the lake runner (server/lake) from
Parquet partitions; sharing it is what makes both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from prioscore.server.engine import (
    AttributeColumns,
    EventColumns,
    Population,
    Profile,
    TierMode,
    Tiers,
    assign_tiers,
    compute_features,
    score,
)
from prioscore.server.scoring.reasons import encode_reasons
from prioscore.server.scoring.relations import RelatedInputs, contributors, fill_score_signals
from prioscore.server.scoring.results import Scored
from prioscore.server.store import ScoreRows


def score_loaded(
    profile: Profile,
    entity_ids: Sequence[str],
    events: EventColumns,
    attributes: AttributeColumns,
    related: RelatedInputs,
    as_of: float,
    *,
    explain: bool = True,
    top_reasons: int = 3,
    contributors_later: bool = False,
) -> Scored:
    """The engine's result for entity_ids (events on their axis, members' events already
    rolled up) as of `as_of`, tiers before any population re-cut. `contributors_later`:
    name contributing members only for the rows a caller takes (Scored.take)."""
    features = compute_features(profile, events, len(entity_ids), as_of)
    fill_score_signals(profile, features.matrix, related.scores)
    result = score(profile, features, attributes, explain=explain, top_reasons=top_reasons)
    named = None
    n = len(entity_ids)
    if explain and contributors_later:
        return Scored(
            profile, entity_ids, result, features.matrix, None, attributes,
            lambda rows: contributors(profile, n, related, as_of, top_reasons, rows),
        )  # fmt: skip
    if explain:
        named = contributors(profile, n, related, as_of, top_reasons)
    return Scored(profile, entity_ids, result, features.matrix, named, attributes)


def population_tiers(tiers: Tiers, population: Population) -> Tiers:
    """Quantile tiers as absolute cuts at the quantiles of `population` (the eligible
    scores the tiers are relative to); absolute tiers, or no population, are returned as
    they are."""
    if tiers.mode != TierMode.QUANTILE or population.size == 0:
        return tiers
    return Tiers(TierMode.ABSOLUTE, tiers.names, tuple(population.quantiles(tiers.thresholds)))


def tier_by_population(scored: Scored, population: Population) -> None:
    """Re-cuts quantile tiers in place at the quantiles of `population`."""
    tiers = population_tiers(scored.profile.tiers, population)
    if tiers is not scored.profile.tiers:
        retier(scored, tiers)


def retier(scored: Scored, tiers: Tiers) -> None:
    """Assigns `tiers` (absolute cuts) to the eligible entities of `scored` in place."""
    result = scored.result
    result.tier = assign_tiers(tiers, result.score, ~result.disqualified)


def score_rows(scored: Scored, ts: float, *, encoded: bool = True) -> ScoreRows:
    """Rows for the scores table (tier names, "" when disqualified; reasons encoded
    unless `encoded` is False: then the writer encodes only the rows it writes, through
    `reasons_encoder`)."""
    result = scored.result
    names = np.asarray((*scored.profile.tiers.names, ""), dtype=object)
    return ScoreRows(
        entity_id=scored.entity_ids,
        score=result.score,
        engagement=result.engagement,
        fit=result.fit,
        tier=list(names[result.tier]),
        disqualified=result.disqualified,
        reasons=encode_reasons(scored) if encoded else [],
        ts=ts,
    )


def reasons_encoder(scored: Scored) -> Callable[[np.ndarray], list[str]]:
    """Encodes the reasons of the rows at given positions only (Store.write_scores'
    `encode`)."""
    return lambda rows: encode_reasons(scored.take(rows))
