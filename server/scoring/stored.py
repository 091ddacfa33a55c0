"""Scoring stored entities under one profile: the path ingest, ScoreEntities(stored),
shadow profiles and CompareProfiles share.

Stored events (with members' events rolled up), related stored scores for score signals
and stored attributes go through the engine; quantile tiers are cut on the stored
population; the result becomes rows for the scores table. Kept apart from the Service so
every caller scores stored entities the same way, and the Service keeps to orchestration.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from prioscore.server.engine import (
    Profile,
    TierMode,
    Tiers,
    assign_tiers,
    compute_features,
    profile_inputs,
    score,
)
from prioscore.server.scoring.reasons import encode_reasons
from prioscore.server.scoring.relations import (
    RelatedInputs,
    contributors,
    fill_score_signals,
    load_events,
    load_related_scores,
)
from prioscore.server.scoring.results import Scored
from prioscore.server.store import ScoreRows, Store

POPULATION_CHUNK = 50_000  # ids per step when a whole population is (re)scored


class StoredScorer:
    """Scores stored entities from what the store holds about them (read-only)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def population(self, profile: Profile, chunk: int = POPULATION_CHUNK) -> Iterator[list[str]]:
        """Every stored entity `profile` scores (its kind, and entities of unknown kind,
        as ingest does), `chunk` ids at a time: memory stays bounded for any store."""
        ids = self.store.entity_ids(kind=profile.entity)
        if profile.entity:
            ids = sorted(ids + self.store.entity_ids(kind=""))
        for start in range(0, len(ids), chunk):
            yield ids[start : start + chunk]

    def score(
        self,
        profile: Profile,
        entity_ids: list[str],
        as_of: float,
        *,
        explain: bool = True,
        top_reasons: int = 3,
    ) -> Scored:
        """The engine's result for entity_ids as of `as_of` (tiers before re-cutting)."""
        needs = profile_inputs(profile)
        events, members = load_events(self.store, profile, entity_ids, needs, as_of)
        attrs = self.store.attributes(
            entity_ids, needs.categorical_attributes, needs.numeric_attributes
        )
        features = compute_features(profile, events, len(entity_ids), as_of)
        related = load_related_scores(self.store, profile, entity_ids, None)
        fill_score_signals(profile, features.matrix, related)
        result = score(profile, features, attrs, explain=explain, top_reasons=top_reasons)
        named = None
        if explain:
            inputs = RelatedInputs(members, related)
            named = contributors(profile, len(entity_ids), inputs, as_of, top_reasons)
        return Scored(profile, entity_ids, result, features.matrix, named, attrs)

    def tier_against_population(self, scored: Scored) -> None:
        """Quantile tiers of stored entities are relative to the whole stored population,
        not to the handful of entities one ingest batch or request happens to touch."""
        tiers = scored.profile.tiers
        if tiers.mode != TierMode.QUANTILE:
            return
        result = scored.result
        eligible = ~result.disqualified
        population = np.concatenate(
            [
                self.store.population_scores(scored.profile.name, scored.entity_ids),
                result.score[eligible],
            ]
        )
        if population.size == 0:
            return
        cuts = np.quantile(population, tiers.thresholds)
        absolute = Tiers(TierMode.ABSOLUTE, tiers.names, tuple(float(c) for c in cuts))
        result.tier = assign_tiers(absolute, result.score, eligible)

    def rows(self, profile: Profile, entity_ids: list[str], now: float) -> ScoreRows:
        """Rows for the scores table: scored as of now, tiered against the population,
        with the top reasons (and contributors) encoded."""
        scored = self.score(profile, entity_ids, now)
        self.tier_against_population(scored)
        result = scored.result
        names = np.asarray((*profile.tiers.names, ""), dtype=object)
        return ScoreRows(
            entity_id=entity_ids,
            score=result.score,
            engagement=result.engagement,
            fit=result.fit,
            tier=list(names[result.tier]),
            disqualified=result.disqualified,
            reasons=encode_reasons(scored),
            ts=now,
        )
