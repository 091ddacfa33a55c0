"""Service: scoring and events (MLServer's DataPlane); ProfileHandlers stands beside it.

Transport-neutral: the gRPC servicers only convert messages and call these methods, and
tests drive it without gRPC. Methods are synchronous and run on the server's event-loop
thread, which serialises access to the single SQLite connection without locks; the numpy
work inside each call is vectorised, so calls stay short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opentelemetry import metrics, trace

from prioscore.server.config import Limits
from prioscore.server.engine import FeatureSet, Profile, compute_features, score
from prioscore.server.errors import InvalidArgumentError, NotFoundError
from prioscore.server.handlers.catalog import ProfileCatalog
from prioscore.server.handlers.paging import decode_token, encode_token, fingerprint, page_size
from prioscore.server.handlers.requests import (
    GROUP,
    TRACK,
    IncomingEntity,
    IncomingEvents,
    entities_from_messages,
    entity_record,
    event_columns,
    inline_attributes,
    properties_json,
    select_feature_columns,
    tracked_entity_kinds,
    validate_entities,
    validate_events,
)
from prioscore.server.handlers.shadows import ShadowSet
from prioscore.server.handlers.watch import (
    TierChangeHub,
    WatchedChange,
    WatchFilter,
    stored_changes,
)
from prioscore.server.scoring import (
    Scored,
    StoredScorer,
    affected,
    fill_score_signals,
    load_related_scores,
)
from prioscore.server.store import (
    EraseCounts,
    EventBatch,
    HistoryPoint,
    Store,
    StoredScore,
    TierChangeRecord,
    TierHold,
)

_tracer = trace.get_tracer("prioscore.server")
_meter = metrics.get_meter("prioscore.server")
_events_ingested = _meter.create_counter("prioscore.events.ingested", unit="{event}")
_events_duplicate = _meter.create_counter("prioscore.events.duplicates", unit="{event}")
_entities_scored = _meter.create_counter("prioscore.entities.scored", unit="{entity}")
_tier_changes = _meter.create_counter("prioscore.tier_changes", unit="{change}")


@dataclass(frozen=True)
class RankQuery:
    profile: str
    page_size: int = 0
    page_token: str = ""
    tiers: tuple[str, ...] = ()
    account_id: str = ""
    min_score: float | None = None
    include_disqualified: bool = False


@dataclass(frozen=True)
class RankPage:
    scores: list[StoredScore]
    next_page_token: str
    total_size: int


@dataclass(frozen=True)
class HistoryPage:
    points: list[HistoryPoint]
    next_page_token: str


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    entities_rescored: int
    tier_changes: list[TierChangeRecord]
    # Track event name -> events of it in the batch that no loaded profile reads.
    unread: dict[str, int] = field(default_factory=dict)


class Service:
    """Scoring, ingest, profiles and queries over one store and one profile directory."""

    def __init__(
        self,
        store: Store,
        catalog: ProfileCatalog,
        shadows: ShadowSet,
        scorer: StoredScorer,
        hub: TierChangeHub,
        *,
        limits: Limits,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.limits = limits
        self.hub = hub
        self._catalog = catalog
        self._shadows = shadows
        self._clock = clock
        self.scorer = scorer

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

    def ingest(self, events: IncomingEvents) -> IngestResult:
        """Stores a batch (deduped on message_id) and rescores only the touched entities.

        Everything the batch writes — events, entity upserts, scores, history, tier
        changes — is one transaction; watchers hear of tier changes after it commits.
        """
        validate_events(events, self.limits.max_events_per_request)
        if len(events) == 0:
            return IngestResult(0, 0, 0, [])
        now = self._clock()
        ts = np.where(np.isnan(events.ts), now, events.ts)
        value = np.where(np.isnan(events.value), 1.0, events.value)
        kinds = np.asarray(events.kind, dtype=object)
        names = np.where(kinds == TRACK, np.asarray(events.event, dtype=object), kinds)
        batch = EventBatch(
            message_id=events.message_id,
            entity_id=events.entity_id,
            event=names.tolist(),
            ts=ts,
            value=value,
            properties=properties_json(events),
        )
        with _tracer.start_as_current_span("ingest") as span:
            span.set_attribute("prioscore.batch_size", len(events))
            with self.store.transaction():
                # A group event may move an entity to another account: the account it
                # leaves loses a member, so it is rescored too (rollups, score signals).
                joining = np.asarray(events.entity_id, dtype=object)[kinds == GROUP]
                left = self.store.accounts_of(joining.tolist()) if joining.size else []
                accepted = self.store.insert_events(batch)
                self.store.upsert_entities(entities_from_messages(events, kinds, now))
                self.store.set_entity_kinds(*tracked_entity_kinds(events, kinds), now)
                self.store.ensure_entities(events.entity_id)
                touched = sorted(set(events.entity_id).union(left))
                changes, rescored = self._rescore(touched, now, events.message_id[-1])
            self.hub.publish_changes(changes, self.store)
        _events_ingested.add(accepted)
        _events_duplicate.add(len(events) - accepted)
        _tier_changes.add(len(changes))
        unread = self._unread(names[kinds == TRACK])
        return IngestResult(accepted, len(events) - accepted, rescored, changes, unread)

    def _unread(self, tracked: np.ndarray) -> dict[str, int]:
        """Counts of the track event names no loaded profile reads (one np.unique)."""
        if not tracked.size:
            return {}
        read = set().union(*(p.event_types for p in self._catalog.all()))
        names, counts = np.unique(tracked.astype(str), return_counts=True)
        return {
            n: int(c) for n, c in zip(names.tolist(), counts.tolist(), strict=True) if n not in read
        }

    def upsert_entities(self, entities: list[IncomingEntity]) -> int:
        """Merges attributes and rescores the entities under every profile of their kind."""
        validate_entities(entities)
        now = self._clock()
        records = [entity_record(e, now) for e in entities]
        ids = sorted({e.id for e in entities})
        with self.store.transaction():
            left = self.store.accounts_of(ids)  # accounts before: a member may be leaving
            count = self.store.upsert_entities(records)
            changes, _ = self._rescore(sorted(set(ids).union(left)), now, "")
        self.hub.publish_changes(changes, self.store)
        return count

    def erase_entity(self, entity_id: str) -> EraseCounts:
        if not entity_id:
            raise InvalidArgumentError.of("entity_id", "required")
        # Idempotent (as the API documents): a retried erase succeeds with zero counts.
        # Its account and its members lose a related entity: rescore them in the same
        # transaction, so no rollup keeps counting an erased contact.
        with self.store.transaction():
            neighbours = self.store.neighbours([entity_id])
            counts = self.store.erase_entity(entity_id)
            changes, _ = self._rescore(neighbours, self._clock(), "")
        self.hub.publish_changes(changes, self.store)
        return counts

    def _rescore(
        self, entity_ids: list[str], now: float, cause: str
    ) -> tuple[list[TierChangeRecord], int]:
        """Rescores entity_ids under each profile that applies to them, and whatever the
        change reaches through accounts (relations.affected); inside a transaction.

        Profiles come in dependency order, so a profile reading another's scores reads
        the ones this batch just wrote.
        """
        if not entity_ids:
            return [], 0
        stored = self.store.entity_columns(entity_ids)
        kinds = np.asarray([stored[i][0] if i in stored else "" for i in entity_ids], object)
        changes: list[TierChangeRecord] = []
        rescored: dict[str, list[str]] = {}
        for profile in self._catalog.all():
            # An entity of unknown kind is scored by every profile; a known kind only by
            # the profiles written for it.
            chosen = [
                entity_ids[i] for i in np.flatnonzero((kinds == profile.entity) | (kinds == ""))
            ]
            reached = affected(self.store, profile, entity_ids, rescored)
            if reached:
                claimed = self.store.claim_entities(reached, profile.entity, now)
                chosen = sorted(set(chosen).union(claimed))
            if not chosen:
                continue
            rows = self.scorer.rows(profile, chosen, now)
            hold = TierHold.of(profile)
            changes.extend(
                self.store.write_scores(profile.name, profile.version, rows, cause, hold=hold)
            )
            self._shadows.rescore(profile.name, chosen, now)
            rescored[profile.name] = chosen
        count = sum(len(ids) for ids in rescored.values())
        _entities_scored.add(count)
        return changes, count

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
        profile = self.get_profile(profile_name)
        self._check_rows(len(entity_ids), "entity_ids")
        ids = list(entity_ids)
        for i, entity_id in enumerate(ids):
            if not entity_id:
                raise InvalidArgumentError.of(f"entity_ids[{i}]", "must not be empty")
        known = self.store.entity_columns(ids)  # existence only: no attribute decoding
        for i, entity_id in enumerate(ids):
            if entity_id not in known:
                raise NotFoundError("entity", entity_id, f"entity_ids[{i}]")
        when = self._clock() if as_of is None else as_of
        scored = self.scorer.score(profile, ids, when, explain=explain, top_reasons=top_reasons)
        self.scorer.tier_against_population(scored)
        return scored

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
        validate_events(events, self.limits.max_events_per_request)
        validate_entities(entities)
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
            related = load_related_scores(self.store, profile, entity_ids, accounts)
            fill_score_signals(profile, features.matrix, related)
        attrs = inline_attributes(profile, entity_ids, entities)
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
    ) -> Scored:
        """Scores a precomputed feature matrix whose columns follow the profile's signals."""
        profile = self.get_profile(profile_name)
        if columns:
            matrix = select_feature_columns(matrix, list(columns), profile)
        if matrix.ndim != 2 or matrix.shape[1] != len(profile.signals):
            raise InvalidArgumentError.of(
                "features.shape",
                f"expected [n, {len(profile.signals)}] (signals {', '.join(profile.signal_names)})"
                f", got {list(matrix.shape)}",
            )
        self._check_rows(matrix.shape[0], "features")
        if entity_ids and len(entity_ids) != matrix.shape[0]:
            raise InvalidArgumentError.of(
                "entity_ids", f"{len(entity_ids)} ids for {matrix.shape[0]} feature rows"
            )
        if not np.isfinite(matrix).all():
            raise InvalidArgumentError.of("features.data", "contains NaN or infinity")
        ids = list(entity_ids)  # may stay empty: the bulk path correlates rows by position
        attrs = inline_attributes(profile, ids, entities or []) if entities else {}
        features = FeatureSet(matrix, np.full(matrix.shape[0], -1, dtype=np.int32))
        result = score(profile, features, attrs, explain=explain, top_reasons=top_reasons)
        return Scored(profile, ids, result, matrix, attributes=attrs)

    def _check_rows(self, rows: int, field: str) -> None:
        if rows > self.limits.max_rows_per_batch:
            raise InvalidArgumentError.of(
                field, f"{rows} rows exceed the per-request limit {self.limits.max_rows_per_batch}"
            )

    # -- queries ----------------------------------------------------------------------

    def rank(self, query: RankQuery) -> RankPage:
        """Top entities by stored score, keyset-paged (ties broken by entity id)."""
        profile = self.get_profile(query.profile)
        unknown = sorted(set(query.tiers) - set(profile.tiers.names))
        if unknown:
            raise InvalidArgumentError.of(
                "tiers",
                f"unknown tier {unknown[0]!r}; {profile.name} has {', '.join(profile.tiers.names)}",
            )
        if query.min_score is not None and not 0 <= query.min_score <= 100:
            raise InvalidArgumentError.of("min_score", "must be within 0-100")
        size = page_size(query.page_size, self.limits.max_page_size)
        fp = fingerprint(
            "rank",
            query.profile,
            sorted(query.tiers),
            query.account_id,
            query.min_score,
            query.include_disqualified,
        )
        position = decode_token(query.page_token, fp)
        after = None
        if position is not None:
            if len(position) != 2:
                raise InvalidArgumentError.of(
                    "page_token", "not a token this server issued", reason="PAGE_TOKEN_INVALID"
                )
            after = (float(position[0]), str(position[1]))
        filters: dict[str, Any] = dict(
            tiers=query.tiers,
            account_id=query.account_id or None,
            min_score=query.min_score,
            include_disqualified=query.include_disqualified,
        )
        rows = self.store.rank(profile.name, limit=size + 1, after=after, **filters)
        total = self.store.count_scores(profile.name, **filters)
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = encode_token(fp, [rows[-1].score, rows[-1].entity_id])
        return RankPage(rows, token, total)

    def history(
        self, entity_id: str, profile_name: str, requested_size: int, page_token: str
    ) -> HistoryPage:
        """An entity's score history, newest first, paged by timestamp."""
        if not entity_id:
            raise InvalidArgumentError.of("entity_id", "required")
        if profile_name:
            self.get_profile(profile_name)
        if not self.store.entity_columns([entity_id]):
            raise NotFoundError("entity", entity_id, "entity_id")
        size = page_size(requested_size, self.limits.max_page_size, default=100)
        fp = fingerprint("history", entity_id, profile_name)
        position = decode_token(page_token, fp)
        before = float(position[0]) if position else None
        points = self.store.score_history(
            entity_id, profile_name or None, limit=size + 1, before=before
        )
        token = ""
        if len(points) > size:
            points = points[:size]
            token = encode_token(fp, [points[-1].ts])
        return HistoryPage(points, token)

    # -- watch ------------------------------------------------------------------------

    def watch_tier_changes(
        self, wanted: WatchFilter, after_change_id: int | None = None
    ) -> AsyncIterator[WatchedChange]:
        """Live tier changes; with after_change_id, the stored ones after it first."""
        if wanted.profile:
            self.get_profile(wanted.profile)
        if after_change_id is None:
            return self.hub.watch(wanted)
        if after_change_id < 0:
            raise InvalidArgumentError.of("after_change_id", "must be >= 0")
        return self.hub.watch(wanted, stored_changes(self.store, wanted, after_change_id))
