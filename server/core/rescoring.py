"""Rescoring stored entities and writing what changed: one path for events, upserts,
erasures, the clock, reloads, promotions and backfills.

Every caller runs on the writer (core.worker), inside a store transaction it opens, so
the scores, history and tier changes of one rescoring commit together with whatever
caused them (an ingest batch's events, an upsert's attributes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import repeat

import numpy as np
from opentelemetry import metrics

from prioscore.server.core.shadows import ShadowSet
from prioscore.server.engine import Profile
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.scoring import (
    POPULATION_CHUNK,
    StoredScorer,
    affected,
    reasons_encoder,
    score_rows,
)
from prioscore.server.store import Cause, SlotIds, Store, TierChangeRecord, TierHold

_entities_scored = metrics.get_meter("prioscore.server").create_counter(
    "prioscore.entities.scored", unit="{entity}"
)

ChunkJob = Callable[[], list[TierChangeRecord]]


class Rescorer:
    """Scores stored entities under every profile that applies and writes the rows."""

    def __init__(
        self,
        store: Store,
        registry: ProfileRegistry,
        scorer: StoredScorer,
        shadows: ShadowSet,
        *,
        chunk: int = POPULATION_CHUNK,
    ) -> None:
        self._store = store
        self._registry = registry
        self._scorer = scorer
        self._shadows = shadows
        self._chunk = chunk

    def rescore(
        self,
        entity_ids: Sequence[str],
        now: float,
        cause: Cause,
        message_ids: Mapping[str, str] | None = None,
        fallback_message_id: str = "",
    ) -> tuple[list[TierChangeRecord], int]:
        """Rescores entity_ids under each profile that applies to them, and whatever the
        change reaches through accounts (relations.affected); inside a transaction.
        Returns the tier changes and how many (entity, profile) pairs were rescored.

        Profiles come in dependency order, so a profile reading another's scores reads
        the ones just written. For Cause.EVENT, `message_ids` names each entity's own
        latest event; entities reached through relations get `fallback_message_id`.
        """
        changes, rescored = self.rescore_by_profile(
            entity_ids, now, cause, message_ids, fallback_message_id
        )
        return changes, sum(len(chosen) for chosen in rescored.values())

    def rescore_by_profile(
        self,
        entity_ids: Sequence[str],
        now: float,
        cause: Cause,
        message_ids: Mapping[str, str] | None = None,
        fallback_message_id: str = "",
    ) -> tuple[list[TierChangeRecord], dict[str, Sequence[str]]]:
        """rescore(), telling which entities each profile rescored (a group of ingest
        batches rescored together splits the count between them)."""
        distinct = sorted(set(entity_ids))
        if not distinct:
            return [], {}
        # Kinds and accounts from the writer's entity mirror (kept in step with every
        # entity row this transaction wrote): no SQLite read per rescoring.
        mirrored = self._store.mirrored()
        ids = self._slot_ids(distinct)
        kinds = mirrored.kinds_of(ids)
        changes: list[TierChangeRecord] = []
        rescored: dict[str, Sequence[str]] = {}
        for profile in self._registry.all():
            # Only the profiles written for an entity's kind score it; an entity of no
            # kind is scored by none (ingest gives new entities their source's kind).
            chosen = ids.take(np.flatnonzero(kinds == profile.entity))
            reached = affected(mirrored, profile, ids, rescored)
            if reached:
                claimed = self._store.claim_entities(reached, profile.entity, now)
                chosen = self._slot_ids(sorted(set(chosen).union(claimed)))
            if not len(chosen):
                continue
            causes: str | list[str] = fallback_message_id
            if message_ids:
                causes = list(map(message_ids.get, chosen, repeat(fallback_message_id)))
            changes += self._write(profile, chosen, now, cause, causes)
            rescored[profile.name] = chosen
        _entities_scored.add(sum(len(chosen) for chosen in rescored.values()))
        return changes, rescored

    def _slot_ids(self, ids: list[str]) -> SlotIds:
        """`ids` (sorted) as slots of the store's table, looked up once: every read and
        write of the rescoring (kinds, accounts, events, attributes, stored scores, the
        score mirror) takes them as they are. Each of those looked the same ids up
        again, ~14 dict look-ups per id and ingest batch. Ids without a slot get one
        (an id with no entity row stays without one: the mirrors say so by slot)."""
        table = self._store.slots
        return table.ids(table.of(ids, add=True))

    def population_jobs(
        self, profiles: Sequence[Profile], now: float, cause: Cause
    ) -> Iterator[ChunkJob]:
        """Jobs that rescore every stored entity of `profiles` as of `now`, one chunk and
        one transaction each, in dependency order (readers after what they read)."""
        for profile in profiles:
            for ids in self._scorer.population(profile, self._chunk):
                yield self._chunk_job(profile, ids, now, cause)

    def _chunk_job(
        self, profile: Profile, ids: Sequence[str], now: float, cause: Cause
    ) -> ChunkJob:
        def job() -> list[TierChangeRecord]:
            with self._store.transaction():
                current = self._registry.get(profile.name)
                if current is None:  # unloaded by a reload since the sweep began
                    return []
                changes = self._write(current, ids, now, cause, "")
            _entities_scored.add(len(ids))
            return changes

        return job

    def _write(
        self,
        profile: Profile,
        ids: Sequence[str],
        now: float,
        cause: Cause,
        message_ids: str | list[str],
    ) -> list[TierChangeRecord]:
        scored = self._scorer.current(profile, ids, now, for_write=True)
        # Alert hysteresis ([alerts]) damps noise from behaviour and time; a reload or a
        # promotion is a new version whose tier changes are real, so it never holds.
        hold = None if cause in (Cause.RELOAD, Cause.PROMOTION) else TierHold.of(profile)
        changes = self._store.write_scores(
            profile.name,
            profile.version,
            score_rows(scored, now, encoded=False),
            message_ids,
            cause=cause,
            hold=hold,
            encode=reasons_encoder(scored),
        )
        self._shadows.rescore(profile.name, ids, now)  # its shadow stays as current
        return changes


__all__ = ["ChunkJob", "Rescorer"]
