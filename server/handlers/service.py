"""Service: scoring and events (MLServer's DataPlane); ProfileHandlers stands beside it.

Transport-neutral: the gRPC servicers only convert messages and call these methods, and
tests drive it without gRPC. Methods are synchronous and run on the server's event-loop
thread, which serialises access to the single SQLite connection without locks; the numpy
work inside each call is vectorised, so calls stay short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence

import numpy as np
from opentelemetry import metrics, trace

from prioscore.server.audit import audit
from prioscore.server.config import EntityKinds, Limits
from prioscore.server.core import LiveCore
from prioscore.server.engine import FeatureSet, Profile, compute_features, score
from prioscore.server.errors import InvalidArgumentError, NotFoundError
from prioscore.server.handlers.catalog import ProfileCatalog
from prioscore.server.handlers.ingest import CheckedEvents, EventIngest, IngestResult
from prioscore.server.handlers.ingest_queue import IngestQueue, IngestStream
from prioscore.server.handlers.inline_attributes import event_attributes, feature_attributes
from prioscore.server.handlers.queries import StoredQueries
from prioscore.server.handlers.requests import (
    TRACK,
    IncomingEntity,
    IncomingEvents,
    entity_record,
    event_columns,
    select_feature_columns,
    sibling_field,
    validate_entities,
    validate_events,
    validate_ids,
)
from prioscore.server.handlers.suppression import (
    drop_suppressed_entities,
)
from prioscore.server.handlers.watch import (
    MAX_CHANGES_PER_BATCH,
    TierChangeHub,
    WatchedChange,
    WatchFilter,
    stored_changes,
)
from prioscore.server.scoring import (
    Scored,
    StoredScorer,
    fill_score_signals,
    load_related_scores,
)
from prioscore.server.store import (
    Cause,
    EraseCounts,
    Store,
    StoredScore,
)

_tracer = trace.get_tracer("prioscore.server")
_meter = metrics.get_meter("prioscore.server")
_events_ingested = _meter.create_counter("prioscore.events.ingested", unit="{event}")
_events_duplicate = _meter.create_counter("prioscore.events.duplicates", unit="{event}")


class Service(StoredQueries):
    """Scoring, ingest, profiles and queries over one store and one profile directory."""

    def __init__(
        self,
        store: Store,
        catalog: ProfileCatalog,
        core: LiveCore,
        scorer: StoredScorer,
        hub: TierChangeHub,
        *,
        limits: Limits,
        clock: Callable[[], float],
        kinds: EntityKinds | None = None,
    ) -> None:
        self.store = store
        # Reads served on the event loop use their own connection (the scorer's too):
        # they never wait for the writer's lock or transaction (WAL: the last commit).
        self._reads = scorer.store
        self.kinds = kinds or EntityKinds()
        self.limits = limits
        self.hub = hub
        self._catalog = catalog
        self._core = core
        self._clock = clock
        self.scorer = scorer
        self._events = EventIngest(
            store, catalog, core, hub, limits=limits, clock=clock, kinds=self.kinds
        )
        self._queue = IngestQueue(core.worker.submit, self._events.ingest_group)

    def now(self) -> float:
        return self._clock()

    def get_profile(self, name: str, field: str = "profile") -> Profile:
        return self._catalog.get(name, field)

    async def watchers_drained(self, published: bool) -> None:
        """Lets watch streams send what the last batch published (bounded wait)."""
        if published:
            await self.hub.drain()
        else:
            await asyncio.sleep(0)

    def close_watches(self) -> None:
        """Ends every watch stream with UNAVAILABLE (shutdown); clients resume elsewhere."""
        self.hub.close()

    # -- ingest -----------------------------------------------------------------------

    def check_events(self, events: IncomingEvents) -> CheckedEvents:
        """Validates a batch for ingest (every violation at once); nothing is queued."""
        return self._events.check(events)

    def submit_ingest(
        self, checked: CheckedEvents, *, backfill: bool = False, stream: IngestStream | None = None
    ) -> asyncio.Future[IngestResult]:
        """Queues a checked batch for the writer, from the event loop; batches that wait
        together are stored in one transaction (ingest_queue), each answered once its
        transaction commits. `stream`: later batches of a stream whose batch failed
        are refused."""
        return asyncio.wrap_future(self._queue.submit(checked, backfill, stream))

    async def aingest(self, events: IncomingEvents, *, backfill: bool = False) -> IngestResult:
        """check_events() and submit_ingest(), awaited."""
        return await self.submit_ingest(self.check_events(events), backfill=backfill)

    def ingest(self, events: IncomingEvents, *, backfill: bool = False) -> IngestResult:
        """Stores a batch and rescores what it touched (handlers.ingest.EventIngest)."""
        return self._events.ingest(events, backfill=backfill)

    async def afinish_backfill(self, touched: Collection[str]) -> IngestResult:
        """finish_backfill() on the writer, awaited from the event loop."""
        return await self._core.run(lambda: self.finish_backfill(touched))

    def finish_backfill(self, touched: Collection[str]) -> IngestResult:
        """The end of a historical import: everyone it touched rescored once."""
        return self._events.finish_backfill(touched)

    async def aupsert_entities(self, entities: list[IncomingEntity]) -> int:
        return await self._core.run(lambda: self.upsert_entities(entities))

    def upsert_entities(self, entities: list[IncomingEntity]) -> int:
        """Merges attributes and rescores the entities under every profile of their kind."""
        validate_entities(entities, self.limits)
        entities, _ = drop_suppressed_entities(self.store, entities)
        now = self._clock()
        records = [entity_record(e, now) for e in entities]
        ids = sorted({e.id for e in entities})
        with self.store.transaction():
            left = self.store.accounts_of(ids)  # accounts before: a member may be leaving
            count = self.store.upsert_entities(records)
            changes, _ = self._core.rescorer.rescore([*ids, *left], now, Cause.ENTITY_UPDATE)
        self.hub.publish_changes(changes, self.store)
        return count

    async def aerase_entity(self, entity_id: str) -> EraseCounts:
        return await self._core.run(lambda: self.erase_entity(entity_id))

    def erase_entity(self, entity_id: str) -> EraseCounts:
        if not entity_id:
            raise InvalidArgumentError.of("entity_id", "required")
        # Idempotent (as the API documents): a retried erase succeeds with zero counts.
        # Its account and its members lose a related entity: rescore them in the same
        # transaction, so no rollup keeps counting an erased contact.
        # Erasing any id of a merged identity erases all of it (store.erase_identity).
        live = self._core.live
        with self.store.transaction(on_rollback=live.reload):
            (root,) = self.store.resolve_ids([entity_id])
            ids = [root, *self.store.merged_into(root)]
            neighbours = sorted(set(self.store.neighbours(ids)) - set(ids))
            erased, counts = self.store.erase_identity(entity_id)
            live.erase(ids)
            changes, _ = self._core.rescorer.rescore(neighbours, self._clock(), Cause.ERASURE)
        self.hub.publish_changes(changes, self.store)
        audit(
            "erase",
            entity_id=entity_id,
            merged_ids=",".join(i for i in erased if i != entity_id),
            events=counts.events,
            entities=counts.entities,
        )
        return counts

    async def aallow_entity(self, entity_id: str) -> bool:
        return await self._core.run(lambda: self.allow_entity(entity_id))

    def allow_entity(self, entity_id: str) -> bool:
        """Lifts the suppression EraseEntity left on an id; whether there was one."""
        if not entity_id:
            raise InvalidArgumentError.of("entity_id", "required")
        return self.store.allow_again(entity_id)

    # -- scoring ----------------------------------------------------------------------

    def score_stored(
        self,
        profile_name: str,
        entity_ids: Sequence[str],
        *,
        explain: bool = False,
        top_reasons: int = 3,
        as_of: float | None = None,
    ) -> Scored:
        """Scores stored entities from their stored events and attributes (read-only)."""
        profile, ids = self._stored_request(profile_name, entity_ids)
        # Existence and the attributes the profile reads: one statement.
        found, attributes = self.scorer.existing_attributes(profile, ids)
        if not found.all():
            i = int(np.argmin(found))  # the first unknown id
            raise NotFoundError("entity", ids[i], f"entity_ids[{i}]")
        when = self._clock() if as_of is None else as_of
        scored = self.scorer.score(
            profile, ids, when, explain=explain, top_reasons=top_reasons, attributes=attributes
        )
        self.scorer.tier_against_population(scored)
        return scored

    def current_scores(
        self, profile_name: str, entity_ids: Sequence[str]
    ) -> list[StoredScore] | None:
        """The entities' stored scores in request order, when each can answer a stored
        ScoreEntities as of now: of the loaded version, computed at most the profile's
        refresh before now (the bound RankEntities keeps: LIVE_CORE.md, invariant 1)
        and not disqualified (the scores table keeps no disqualify reason). None when
        one cannot, and the caller computes (score_stored). Recomputing one entity from
        its events cost ~250 us in the server against ~14 us for reading its row, and a
        stored score is what RankEntities and watches show for the same entity."""
        profile, ids = self._stored_request(profile_name, entity_ids)
        found = self._reads.get_scores(profile.name, ids)
        if len(found) < len(set(ids)):
            return None
        now = self._clock()
        oldest, version = now - profile.refresh_seconds, profile.version
        rows = [found[entity_id] for entity_id in ids]
        current = all(
            r.profile_version == version and oldest <= r.updated <= now and not r.disqualified
            for r in rows
        )
        return rows if current else None

    def _stored_request(
        self, profile_name: str, entity_ids: Sequence[str]
    ) -> tuple[Profile, list[str]]:
        """The profile and ids of a stored ScoreEntities, checked as both paths check."""
        profile = self.get_profile(profile_name)
        self._check_rows(len(entity_ids), "entity_ids")
        ids = list(entity_ids)
        validate_ids(ids, self.limits, "entity_ids")
        return profile, ids

    def score_events(
        self,
        profile_name: str,
        events: IncomingEvents,
        entities: list[IncomingEntity],
        *,
        explain: bool = False,
        top_reasons: int = 3,
        as_of: float | None = None,
    ) -> Scored:
        """Scores entities from events sent inline (nothing is stored)."""
        profile = self.get_profile(profile_name)
        validate_events(events, self.limits)
        validate_entities(entities, self.limits, sibling_field(events.field_prefix, "entities"))
        when = self._clock() if as_of is None else as_of
        track = np.flatnonzero(np.asarray(events.kind, dtype=object) == TRACK)
        # Order of first appearance, inline entities first (as the API documents).
        entity_ids = list(
            dict.fromkeys([e.id for e in entities] + [events.entity_id[i] for i in track])
        )
        self._check_rows(len(entity_ids), "events")
        columns = event_columns(events, track, entity_ids, profile, when)
        features = compute_features(profile, columns, len(entity_ids), when)
        if profile.reads_profiles:
            # Inline entities read the stored scores of their account (sent with them) or
            # of the stored members of their id; nothing inline is rolled up.
            account = {e.id: e.account_id for e in entities}
            accounts = [account.get(entity_id, "") for entity_id in entity_ids]
            related = load_related_scores(self._reads, profile, entity_ids, accounts)
            fill_score_signals(profile, features.matrix, related)
        # What ingesting the events and upserting the entities would store, attribute by
        # attribute: listed, else the events' traits, else stored (inline_attributes).
        attrs = event_attributes(profile, entity_ids, events, entities, self.scorer)
        result = score(profile, features, attrs, explain=explain, top_reasons=top_reasons)
        return Scored(profile, entity_ids, result, features.matrix, attributes=attrs)

    def score_features(
        self,
        profile_name: str,
        matrix: np.ndarray,
        entity_ids: Sequence[str] = (),
        entities: list[IncomingEntity] | None = None,
        columns: Sequence[str] = (),
        *,
        explain: bool = False,
        top_reasons: int = 3,
        features_field: str = "features",
        numbers_field: str = "data",
    ) -> Scored:
        """Scores a precomputed feature matrix whose columns follow the profile's signals.

        `entities` (ScoreEntities' inline_features, even when empty): attributes for the
        rows' ids, else the stored entity's (handlers.inline_attributes). None: the
        stream path, where fit and disqualify rules see no attributes (StreamScores).
        Every violation names the field of the request the client sent, so the callers
        say where the matrix was: `features_field` (ScoreEntities:
        inline_features.features; StreamScores: features), its parts (shape, columns)
        and its ids and entities beside it, and `numbers_field`, the Matrix field that
        carried the numbers (data, or values in the packed form)."""
        profile = self.get_profile(profile_name)
        if columns:
            matrix = select_feature_columns(matrix, list(columns), profile, features_field)
        if matrix.ndim != 2 or matrix.shape[1] != len(profile.signals):
            raise InvalidArgumentError.of(
                f"{features_field}.shape",
                f"expected [n, {len(profile.signals)}] (signals {', '.join(profile.signal_names)})"
                f", got {list(matrix.shape)}",
            )
        self._check_rows(matrix.shape[0], f"{features_field}.shape")
        ids_field = sibling_field(features_field, "entity_ids")
        if entity_ids and len(entity_ids) != matrix.shape[0]:
            raise InvalidArgumentError.of(
                ids_field, f"{len(entity_ids)} ids for {matrix.shape[0]} feature rows"
            )
        if not np.isfinite(matrix).all():
            raise InvalidArgumentError.of(
                f"{features_field}.{numbers_field}", "contains NaN or infinity"
            )
        entities_field = sibling_field(features_field, "entities")
        validate_entities(entities or [], self.limits, entities_field)
        ids = list(entity_ids)  # may stay empty: the bulk path correlates rows by position
        if entities and not ids:  # attributes find their rows by id (a ValueError before)
            raise InvalidArgumentError.of(ids_field, f"required with {entities_field}")
        # Listed attributes, else the stored ones; None (StreamScores): no attributes.
        attrs = {} if entities is None else feature_attributes(profile, ids, entities, self.scorer)
        features = FeatureSet(matrix, np.full(matrix.shape[0], -1, dtype=np.int32))
        result = score(profile, features, attrs, explain=explain, top_reasons=top_reasons)
        return Scored(profile, ids, result, matrix, attributes=attrs)

    def _check_rows(self, rows: int, field: str) -> None:
        if rows > self.limits.max_rows_per_batch:
            raise InvalidArgumentError.of(
                field, f"{rows} rows exceed the per-request limit {self.limits.max_rows_per_batch}"
            )

    # -- watch ------------------------------------------------------------------------

    def watch_tier_changes(
        self, wanted: WatchFilter, after_change_id: int | None = None
    ) -> AsyncIterator[WatchedChange]:
        """Live tier changes; with after_change_id, the stored ones after it first."""
        return self.hub.watch(wanted, self._replay(wanted, after_change_id))

    def watch_tier_change_batches(
        self, wanted: WatchFilter, after_change_id: int | None, most: int
    ) -> AsyncIterator[tuple[WatchedChange, ...]]:
        """watch_tier_changes() up to `most` changes at a time (1..MAX_CHANGES_PER_BATCH):
        a commit's changes for this watcher together, so a busy stream sends few
        messages."""
        if not 1 <= most <= MAX_CHANGES_PER_BATCH:
            raise InvalidArgumentError.of(
                "max_changes_per_response", f"must be between 0 and {MAX_CHANGES_PER_BATCH}"
            )
        return self.hub.watch_batches(wanted, self._replay(wanted, after_change_id), most)

    def _replay(
        self, wanted: WatchFilter, after_change_id: int | None
    ) -> AsyncIterator[WatchedChange] | None:
        """The stored changes a resuming watch replays first (None: live only), once
        its filter and cursor are checked."""
        if wanted.profile:
            self.get_profile(wanted.profile)
        if after_change_id is None:
            return None
        if after_change_id < 0:
            raise InvalidArgumentError.of("after_change_id", "must be >= 0")
        return stored_changes(self._reads, wanted, after_change_id)
