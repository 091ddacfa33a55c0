"""Ingest: a batch of events into the store and the live state, rescoring what it touched.

Everything a batch writes is one transaction on the writer (core.worker), and the live
state follows it; watchers hear of the tier changes after it commits. Kept apart from the
Service, which delegates here, so the write path of events has one home.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

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
    taken,
    tracked_entity_kinds,
    validate_events,
)
from prioscore.server.handlers.suppression import drop_suppressed_events
from prioscore.server.handlers.watch import TierChangeHub
from prioscore.server.scoring import POPULATION_CHUNK
from prioscore.server.store import Cause, EventBatch, Store, TierChangeRecord

T = TypeVar("T")
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


@dataclass(frozen=True)
class CheckedEvents:
    """A batch that passed validation, with the JSON text its events are stored with.

    Made before the batch reaches the writer (on the loop, the worker thread that
    converted it or, for a large message, a worker process), because the writer is the
    one thread every ingest waits for; and only a checked batch can be queued for it."""

    events: IncomingEvents
    stored_properties: list[str]

    def __len__(self) -> int:
        return len(self.events)


def check_batch(events: IncomingEvents, limits: Limits, now: float) -> CheckedEvents:
    """Every field of a batch validated (all violations at once) against `limits` as of
    `now`; raises before anything is queued or written. What it reads is passed in, so a
    worker process checks a large message exactly as the serving process would
    (rpc/ingest_offload.py)."""
    validate_events(events, limits, now)
    return CheckedEvents(events, properties_json(events))


def _event_batch(
    events: IncomingEvents, kinds: np.ndarray, now: float, properties: list[str]
) -> EventBatch:
    """The stored rows: track events under their name, other calls under their kind."""
    names = np.where(kinds == TRACK, np.asarray(events.event, dtype=object), kinds)
    return EventBatch(
        message_id=events.message_id,
        entity_id=events.entity_id,
        event=names.tolist(),
        ts=np.where(np.isnan(events.ts), now, events.ts),
        value=np.where(np.isnan(events.value), 1.0, events.value),
        properties=properties,
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

    def check(self, events: IncomingEvents) -> CheckedEvents:
        """check_batch() against the service's limits and clock."""
        return check_batch(events, self.limits, self._clock())

    def ingest(self, events: IncomingEvents, *, backfill: bool = False) -> IngestResult:
        """Stores a batch (deduped on message_id) and rescores only the touched entities.

        Everything the batch writes — identity merges, events, entity upserts, scores,
        history, tier changes — is one transaction, and the live state follows it (or
        rolls back with it); watchers hear of tier changes after it commits. With
        `backfill` (a historical import) nothing is rescored: the result's `touched`
        lists the entities finish_backfill() must rescore once at the end.
        """
        return self.ingest_group([self.check(events)], backfill)[0]

    def ingest_group(
        self, batches: Sequence[CheckedEvents], backfill: bool = False
    ) -> list[IngestResult]:
        """Stores checked batches in ONE transaction, in order, as ingest() would one
        after another, except that the entities they touch are rescored once, together.

        Each batch still gets its own result (its counts, and the tier changes its own
        events caused). Why: an ingest transaction's cost is mostly per transaction and
        per touched entity, not per event (the COMMIT writes every page the batch dirtied
        in the score, history and event indexes, the rescoring has a fixed cost per
        profile), so batches that waited for the writer together cost little more than
        one of them (handlers.ingest_queue gathers them)."""
        now = self._clock()
        with _tracer.start_as_current_span("ingest") as span:
            span.set_attribute("prioscore.batch_size", sum(len(e) for e in batches))
            span.set_attribute("prioscore.batches", len(batches))
            span.set_attribute("prioscore.backfill", backfill)
            live = self._core.live
            mark = len(live)
            changes: list[TierChangeRecord] = []
            rescored: dict[str, Sequence[str]] = {}
            with self.store.transaction(on_rollback=lambda: live.rollback(mark)):
                parts = [self._store_batch(checked, now) for checked in batches]
                union = set().union(*(part.touched for part in parts))
                touched = sorted(union)
                if not backfill and touched:
                    # Each entity's change names its own latest event of the group.
                    latest: dict[str, str] = {}
                    for part in parts:
                        latest.update(part.latest)
                    last = next(p.last_message_id for p in reversed(parts) if p.touched)
                    changes, rescored = self._core.rescorer.rescore_by_profile(
                        touched, now, Cause.EVENT, latest, last
                    )
            self.hub.publish_changes(changes, self.store)
        for part in parts:
            _events_ingested.add(part.accepted)
            _events_duplicate.add(part.duplicates)
        return _results(parts, union, changes, rescored, backfill)

    def _store_batch(self, checked: CheckedEvents, now: float) -> _StoredBatch:
        """One batch's writes inside the group's transaction: merges, events (and the
        live state), entity rows and kinds; what it touched, for the rescoring."""
        events, suppressed = drop_suppressed_events(self.store, checked.events)
        if len(events) == 0:
            return _StoredBatch(suppressed=suppressed)
        stored_properties = properties_json(events) if suppressed else checked.stored_properties
        kinds = np.asarray(events.kind, dtype=object)
        live = self._core.live
        # Merges first, then every id through them: an event sent under an id
        # merged before (or earlier in this batch) lands on the known entity.
        merged = self.store.merge_identities(events.merges, now)
        if merged:
            live.relabel(merged)
        # The batch's entities as slots of the store's table, looked up once (new ids
        # get theirs now, as the live events would give them): the live events and the
        # entity mirror take them as they are, and the ids become the table's own
        # strings, so every later look-up of them finds the very object.
        table = self.store.slots
        entity_ids = table.ids(table.of(self.store.resolve_ids(events.entity_id), add=True))
        events = replace(events, entity_id=entity_ids.strings())
        # A group event may move an entity to another account: the account it
        # leaves loses a member, so it is rescored too (rollups, score signals).
        joining = np.asarray(events.entity_id, dtype=object)[kinds == GROUP]
        left = self.store.accounts_of(joining.tolist()) if joining.size else []
        batch = _event_batch(events, kinds, now, stored_properties)
        fresh = _first_unknown(events.message_id, self.store)
        accepted = self.store.insert_events(batch)
        live.append(
            entity_ids.take(fresh),
            _taken(batch.event, fresh),
            np.asarray(batch.ts)[fresh],
            np.asarray(batch.value)[fresh],
            _taken(events.properties, fresh),
            _taken(events.metrics, fresh),
        )
        # New entities get the source's kind before messages that name one apply.
        default_kind = events.new_entity_kind or self.kinds.event_default
        self.store.ensure_entities(entity_ids, kind=default_kind, now=now)
        self.store.upsert_entities(entities_from_messages(events, kinds, now, self.kinds.account))
        self.store.set_entity_kinds(*tracked_entity_kinds(events, kinds), now)
        groups = np.asarray(events.account_id, dtype=object)[kinds == GROUP].tolist()
        roots = [root for _, root in merged]
        return _StoredBatch(
            accepted=accepted,
            duplicates=len(events) - accepted,
            suppressed=suppressed,
            merged=len(merged),
            touched=set(events.entity_id).union(left, groups, roots, self.store.accounts_of(roots)),
            latest=dict(zip(events.entity_id, events.message_id, strict=True)),
            last_message_id=events.message_id[-1],
            unread=self._unread(np.asarray(batch.event, dtype=object)[kinds == TRACK]),
        )

    def _unread(self, tracked: np.ndarray) -> dict[str, int]:
        """Counts of the track event names no loaded profile reads (a C-level count: no
        sort of every name, which held the GIL for milliseconds on a 10k-event batch)."""
        if not tracked.size:
            return {}
        read = set().union(*(p.event_types for p in self._catalog.all()))
        counts = Counter(tracked.tolist())
        return {name: counts[name] for name in sorted(counts.keys() - read)}

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


@dataclass
class _StoredBatch:
    """What one batch of a group wrote, before the group's rescoring."""

    accepted: int = 0
    duplicates: int = 0
    suppressed: int = 0
    merged: int = 0
    touched: set[str] = field(default_factory=set)
    latest: dict[str, str] = field(default_factory=dict)  # entity -> its last message id
    last_message_id: str = ""
    unread: dict[str, int] = field(default_factory=dict)


def _results(
    parts: list[_StoredBatch],
    union: set[str],
    changes: list[TierChangeRecord],
    rescored: dict[str, Sequence[str]],
    backfill: bool,
) -> list[IngestResult]:
    """Each batch's result from the group's rescoring: the tier changes its own events
    caused (one of its message ids is the change's cause) and the rescorings of the
    entities it touched (`union`: all the batches touched); what only relations
    reached counts for the last batch."""
    counts = [0] * len(parts)
    for chosen in map(set, rescored.values()):
        for i, part in enumerate(parts):
            counts[i] += len(chosen.intersection(part.touched))
        counts[-1] += len(chosen - union)
    caused: list[list[TierChangeRecord]] = [[] for _ in parts]
    if len(parts) == 1:
        caused[0] = changes
    else:
        owner: dict[str, int] = {}
        for i, part in enumerate(parts):
            owner.update(dict.fromkeys(part.latest.values(), i))
        for change in changes:
            caused[owner.get(change.cause_message_id, len(parts) - 1)].append(change)
    return [
        IngestResult(
            part.accepted,
            part.duplicates,
            count,
            own,
            sorted(part.touched) if backfill else [],
            part.suppressed,
            part.merged,
            part.unread,
        )
        for part, count, own in zip(parts, counts, caused, strict=True)
    ]


def _taken(values: Sequence[T], positions: np.ndarray) -> Sequence[T]:
    """values at `positions` (sorted, distinct): all of them as they are when every
    position is taken (a batch without duplicates), else requests.taken."""
    return values if len(positions) == len(values) else taken(values, positions)


def _first_unknown(message_ids: Sequence[str], store: Store) -> np.ndarray:
    """Positions of the events INSERT OR IGNORE will store: not stored before, and the
    first of their message_id within the batch (what the live state must take)."""
    n = len(message_ids)
    # Built in C: assigning in reverse leaves each id's first position.
    first = dict(zip(reversed(message_ids), range(n - 1, -1, -1), strict=True))
    known = store.known_message_ids(message_ids)
    positions = [p for m, p in first.items() if m not in known] if known else first.values()
    return np.sort(np.fromiter(positions, dtype=np.int64))


__all__ = ["CheckedEvents", "EventIngest", "IngestResult", "check_batch"]
