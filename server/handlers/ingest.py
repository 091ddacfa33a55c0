"""Ingest: a batch of events into the store and the live state, rescoring what it touched.

Everything a batch writes is one transaction on the writer (core.worker), and the live
state follows it; watchers hear of the tier changes after it commits. Kept apart from the
Service, which delegates here, so the write path of events has one home.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from opentelemetry import metrics, trace

from prioscore.server.config import EntityKinds, Limits
from prioscore.server.core import LiveCore
from prioscore.server.handlers.catalog import ProfileCatalog
from prioscore.server.handlers.requests import (
    GROUP,
    TRACK,
    IncomingEvents,
    entities_from_messages,
    properties_json,
    tracked_entity_kinds,
    validate_events,
)
from prioscore.server.handlers.suppression import drop_suppressed_events
from prioscore.server.handlers.watch import TierChangeHub
from prioscore.server.scoring import POPULATION_CHUNK
from prioscore.server.store import Cause, EventBatch, Store, TierChangeRecord

_tracer = trace.get_tracer("prioscore.server")
_meter = metrics.get_meter("prioscore.server")
_events_ingested = _meter.create_counter("prioscore.events.ingested", unit="{event}")
_events_duplicate = _meter.create_counter("prioscore.events.duplicates", unit="{event}")


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    entities_rescored: int
    tier_changes: list[TierChangeRecord]
    touched: list[str] = field(default_factory=list)  # a backfill's, to rescore at its end
    suppressed: int = 0  # dropped: about an erased id (handlers.suppression)
    merged: int = 0  # identity merges that took effect

    # Track event name -> events of it in the batch that no loaded profile reads.
    unread: dict[str, int] = field(default_factory=dict)


def _event_batch(events: IncomingEvents, kinds: np.ndarray, now: float) -> EventBatch:
    """The stored rows: track events under their name, other calls under their kind."""
    names = np.where(kinds == TRACK, np.asarray(events.event, dtype=object), kinds)
    return EventBatch(
        message_id=events.message_id,
        entity_id=events.entity_id,
        event=names.tolist(),
        ts=np.where(np.isnan(events.ts), now, events.ts),
        value=np.where(np.isnan(events.value), 1.0, events.value),
        properties=properties_json(events),
    )


class EventIngest:
    """Stores event batches and rescores the entities they touch (on the writer)."""

    def __init__(
        self,
        store: Store,
        catalog: ProfileCatalog,
        core: LiveCore,
        hub: TierChangeHub,
        *,
        limits: Limits,
        clock: Callable[[], float],
        kinds: EntityKinds,
    ) -> None:
        self.store = store
        self.kinds = kinds
        self.limits = limits
        self.hub = hub
        self._catalog = catalog
        self._core = core
        self._clock = clock

    def ingest(self, events: IncomingEvents, *, backfill: bool = False) -> IngestResult:
        """Stores a batch (deduped on message_id) and rescores only the touched entities.

        Everything the batch writes — identity merges, events, entity upserts, scores,
        history, tier changes — is one transaction, and the live state follows it (or
        rolls back with it); watchers hear of tier changes after it commits. With
        `backfill` (a historical import) nothing is rescored: the result's `touched`
        lists the entities finish_backfill() must rescore once at the end.
        """
        now = self._clock()
        validate_events(events, self.limits, now)
        events, suppressed = drop_suppressed_events(self.store, events)
        if len(events) == 0:
            return IngestResult(0, 0, 0, [], suppressed=suppressed)
        kinds = np.asarray(events.kind, dtype=object)
        with _tracer.start_as_current_span("ingest") as span:
            span.set_attribute("prioscore.batch_size", len(events))
            span.set_attribute("prioscore.backfill", backfill)
            live = self._core.live
            mark = len(live)
            with self.store.transaction(on_rollback=lambda: live.rollback(mark)):
                # Merges first, then every id through them: an event sent under an id
                # merged before (or earlier in this batch) lands on the known entity.
                merged = self.store.merge_identities(events.merges, now)
                if merged:
                    live.relabel(merged)
                events = replace(events, entity_id=self.store.resolve_ids(events.entity_id))
                # A group event may move an entity to another account: the account it
                # leaves loses a member, so it is rescored too (rollups, score signals).
                joining = np.asarray(events.entity_id, dtype=object)[kinds == GROUP]
                left = self.store.accounts_of(joining.tolist()) if joining.size else []
                batch = _event_batch(events, kinds, now)
                fresh = _first_unknown(events.message_id, self.store)
                accepted = self.store.insert_events(batch)
                live.append(
                    [events.entity_id[i] for i in fresh],
                    [batch.event[i] for i in fresh],
                    np.asarray(batch.ts)[fresh],
                    np.asarray(batch.value)[fresh],
                    [events.properties[i] for i in fresh],
                    [events.metrics[i] for i in fresh],
                )
                # New entities get the source's kind before messages that name one apply.
                default_kind = events.new_entity_kind or self.kinds.event_default
                self.store.ensure_entities(events.entity_id, kind=default_kind)
                self.store.upsert_entities(
                    entities_from_messages(events, kinds, now, self.kinds.account)
                )
                self.store.set_entity_kinds(*tracked_entity_kinds(events, kinds), now)
                groups = np.asarray(events.account_id, dtype=object)[kinds == GROUP].tolist()
                roots = [root for _, root in merged]
                touched = sorted(
                    set(events.entity_id).union(left, groups, roots, self.store.accounts_of(roots))
                )
                changes: list[TierChangeRecord] = []
                rescored = 0
                if not backfill:
                    # Each entity's change names its own latest event of the batch.
                    latest = dict(zip(events.entity_id, events.message_id, strict=True))
                    changes, rescored = self._core.rescorer.rescore(
                        touched, now, Cause.EVENT, latest, events.message_id[-1]
                    )
            self.hub.publish_changes(changes, self.store)
        _events_ingested.add(accepted)
        _events_duplicate.add(len(events) - accepted)
        return IngestResult(
            accepted,
            len(events) - accepted,
            rescored,
            changes,
            touched if backfill else [],
            suppressed,
            len(merged),
            self._unread(np.asarray(batch.event, dtype=object)[kinds == TRACK]),
        )

    def _unread(self, tracked: np.ndarray) -> dict[str, int]:
        """Counts of the track event names no loaded profile reads (one np.unique)."""
        if not tracked.size:
            return {}
        read = set().union(*(p.event_types for p in self._catalog.all()))
        names, counts = np.unique(tracked.astype(str), return_counts=True)
        return {
            n: int(c) for n, c in zip(names.tolist(), counts.tolist(), strict=True) if n not in read
        }

    def finish_backfill(self, touched: Collection[str]) -> IngestResult:
        """The end of a historical import: rescores every touched entity once, as of
        now, a chunk per transaction (one history point each; changes cause BACKFILL)."""
        ids = sorted(touched)
        now = self._clock()
        changes: list[TierChangeRecord] = []
        rescored = 0
        for start in range(0, len(ids), POPULATION_CHUNK):
            with self.store.transaction():
                chunk = ids[start : start + POPULATION_CHUNK]
                found, count = self._core.rescorer.rescore(chunk, now, Cause.BACKFILL)
            self.hub.publish_changes(found, self.store)
            changes += found
            rescored += count
        return IngestResult(0, 0, rescored, changes)


def _first_unknown(message_ids: Sequence[str], store: Store) -> np.ndarray:
    """Positions of the events INSERT OR IGNORE will store: not stored before, and the
    first of their message_id within the batch (what the live state must take)."""
    n = len(message_ids)
    # Built in C: assigning in reverse leaves each id's first position.
    first = dict(zip(reversed(message_ids), range(n - 1, -1, -1), strict=True))
    known = store.known_message_ids(message_ids)
    positions = [p for m, p in first.items() if m not in known] if known else first.values()
    return np.sort(np.fromiter(positions, dtype=np.int64))


__all__ = ["EventIngest", "IngestResult"]
