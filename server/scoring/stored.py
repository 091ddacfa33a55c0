"""Scoring stored entities under one profile: the path ingest, ScoreEntities(stored),
shadow profiles and CompareProfiles share.

Stored events (with members' events rolled up), related stored scores for score signals
and stored attributes go through the engine; quantile tiers are cut on the stored
population; the result becomes rows for the scores table. Kept apart from the Service so
every caller scores stored entities the same way, and the Service keeps to orchestration.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from prioscore.server.engine import AttributeColumns, Profile, TierMode, profile_inputs
from prioscore.server.scoring.pipeline import score_loaded, score_rows, tier_by_population
from prioscore.server.scoring.relations import (
    EventSource,
    RelatedInputs,
    load_events,
    load_related_scores,
)
from prioscore.server.scoring.results import Scored
from prioscore.server.store import MirroredEntities, ScoreRows, Store

POPULATION_CHUNK = 50_000  # ids per step when a whole population is (re)scored


class StoredScorer:
    """Scores stored entities from what the store holds about them (read-only)."""

    def __init__(
        self, store: Store, events: EventSource | None = None, *, mirrored: bool = False
    ) -> None:
        """`events`: where events are read from (the store when None; the writer's
        scorer reads the live state, which never rereads SQLite). `mirrored`: read
        attributes, members, related scores and populations from the store's in-memory
        mirrors (Store.mirrored(); only the writer's store has them current)."""
        self.store = store
        self._events = events
        self._entities: Store | MirroredEntities = store.mirrored() if mirrored else store

    def population(
        self, profile: Profile, chunk: int = POPULATION_CHUNK
    ) -> Iterator[Sequence[str]]:
        """Every stored entity `profile` scores (those of its kind, as ingest does),
        `chunk` ids at a time: memory stays bounded for any store."""
        ids = self._entities.entity_ids(kind=profile.entity)
        for start in range(0, len(ids), chunk):
            yield ids[start : start + chunk]

    def score(
        self,
        profile: Profile,
        entity_ids: Sequence[str],
        as_of: float,
        *,
        explain: bool = True,
        top_reasons: int = 3,
        contributors_later: bool = False,
        attributes: AttributeColumns | None = None,
    ) -> Scored:
        """The engine's result for entity_ids as of `as_of` (tiers before re-cutting);
        `contributors_later`: see score_loaded. `attributes`: the profile's attribute
        columns when the caller read them already (existing_attributes)."""
        needs = profile_inputs(profile)
        entities = self._entities
        source = self._events if self._events is not None else self.store
        events, members = load_events(entities, profile, entity_ids, needs, as_of, source)
        attrs = attributes
        if attrs is None:
            attrs = entities.attributes(
                entity_ids, needs.categorical_attributes, needs.numeric_attributes
            )
        related = load_related_scores(entities, profile, entity_ids, None)
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
            contributors_later=contributors_later,
        )

    def existing_attributes(
        self, profile: Profile, entity_ids: Sequence[str]
    ) -> tuple[np.ndarray, AttributeColumns]:
        """(bool per id: a stored entity, the profile's attribute columns) in one read
        of the store (Store.stored_attributes): what score() reads, with existence."""
        needs = profile_inputs(profile)
        return self.store.stored_attributes(
            entity_ids, needs.categorical_attributes, needs.numeric_attributes
        )

    def tier_against_population(self, scored: Scored) -> None:
        """Quantile tiers of stored entities are relative to the whole stored population,
        not to the handful of entities one ingest batch or request happens to touch."""
        if scored.profile.tiers.mode != TierMode.QUANTILE:
            return
        result = scored.result
        stored = self.store.population(scored.profile.name, scored.entity_ids)
        tier_by_population(scored, stored.plus(result.score[~result.disqualified]))

    def current(
        self, profile: Profile, entity_ids: Sequence[str], now: float, *, for_write: bool = False
    ) -> Scored:
        """Scored as of now with reasons, tiered against the stored population.
        `for_write`: contributors are named only for the rows taken for writing."""
        scored = self.score(profile, entity_ids, now, contributors_later=for_write)
        self.tier_against_population(scored)
        return scored

    def rows(self, profile: Profile, entity_ids: Sequence[str], now: float) -> ScoreRows:
        """Rows for the scores table: scored as of now, tiered against the population,
        with the top reasons (and contributors) encoded."""
        return score_rows(self.current(profile, entity_ids, now), now)
