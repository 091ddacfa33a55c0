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

from prioscore.server.engine import Profile, TierMode, profile_inputs
from prioscore.server.scoring.pipeline import score_loaded, score_rows, tier_by_population
from prioscore.server.scoring.relations import (
    EventSource,
    RelatedInputs,
    load_events,
    load_related_scores,
)
from prioscore.server.scoring.results import Scored
from prioscore.server.store import ScoreRows, Store

POPULATION_CHUNK = 50_000  # ids per step when a whole population is (re)scored


class StoredScorer:
    """Scores stored entities from what the store holds about them (read-only)."""

    def __init__(self, store: Store, events: EventSource | None = None) -> None:
        """`events`: where events are read from (the store when None; the writer's
        scorer reads the live state, which never rereads SQLite)."""
        self.store = store
        self._events = events

    def population(self, profile: Profile, chunk: int = POPULATION_CHUNK) -> Iterator[list[str]]:
        """Every stored entity `profile` scores (those of its kind, as ingest does),
        `chunk` ids at a time: memory stays bounded for any store."""
        ids = self.store.entity_ids(kind=profile.entity)
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
        events, members = load_events(self.store, profile, entity_ids, needs, as_of, self._events)
        attrs = self.store.attributes(
            entity_ids, needs.categorical_attributes, needs.numeric_attributes
        )
        related = load_related_scores(self.store, profile, entity_ids, None)
        inputs = RelatedInputs(members, related)
        return score_loaded(
            profile,
            entity_ids,
            events,
            attrs,
            inputs,
            as_of,
            explain=explain,
            top_reasons=top_reasons,
        )

    def tier_against_population(self, scored: Scored) -> None:
        """Quantile tiers of stored entities are relative to the whole stored population,
        not to the handful of entities one ingest batch or request happens to touch."""
        if scored.profile.tiers.mode != TierMode.QUANTILE:
            return
        result = scored.result
        stored = self.store.population_scores(scored.profile.name, scored.entity_ids)
        tier_by_population(scored, np.concatenate([stored, result.score[~result.disqualified]]))

    def current(self, profile: Profile, entity_ids: list[str], now: float) -> Scored:
        """Scored as of now with reasons, tiered against the stored population."""
        scored = self.score(profile, entity_ids, now)
        self.tier_against_population(scored)
        return scored

    def rows(self, profile: Profile, entity_ids: list[str], now: float) -> ScoreRows:
        """Rows for the scores table: scored as of now, tiered against the population,
        with the top reasons (and contributors) encoded."""
        return score_rows(self.current(profile, entity_ids, now), now)
