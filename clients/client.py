"""AsyncPrioscoreClient: the core client over grpc.aio and the generated stubs.

Every call carries a deadline (`timeout` for unary calls, `stream_timeout` per stream),
the bearer token metadata when one is set, and the retry policy of retry.py for calls
whose repetition cannot change the outcome. Failures surface as PrioscoreClientError
subclasses with the server's field violations decoded (errors.py).

The channel is injectable: pass `channel=` to share one (the client then never closes
it), or a target plus optional TLS credentials / token and the client owns its channel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import grpc
import numpy as np

from prioscore.clients import ingesting
from prioscore.clients.arrays import matrix
from prioscore.clients.channel import DEFAULT_TARGET, ChannelConfig, auth_metadata
from prioscore.clients.client_bulk import BulkScoring
from prioscore.clients.client_profiles import ProfileCalls
from prioscore.clients.errors import from_rpc_error
from prioscore.clients.events import timestamp
from prioscore.clients.models import EraseResult, IngestSummary, Page
from prioscore.clients.retry import NO_RETRY, RetryPolicy, with_retries
from prioscore.clients.sources import Source, abatches
from prioscore.v1 import event_service_pb2 as events_pb
from prioscore.v1 import event_service_pb2_grpc as events_grpc
from prioscore.v1 import profile_service_pb2_grpc as profiles_grpc
from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import scoring_service_pb2_grpc as scoring_grpc
from prioscore.v1 import types_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0
DEFAULT_STREAM_TIMEOUT = 600.0
# Changes per WatchTierChanges message asked for (the server's most): a commit's changes
# come in one message, so a watch keeps up with ingests that change many tiers at once.
WATCH_CHANGES_PER_RESPONSE = 1_000


class AsyncPrioscoreClient(BulkScoring, ProfileCalls):
    """Async client for the prioscore.v1 services. Use as `async with` or call close()."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        channel: grpc.aio.Channel | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout: float = DEFAULT_TIMEOUT,
        stream_timeout: float = DEFAULT_STREAM_TIMEOUT,
        retry: RetryPolicy | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        if timeout <= 0 or stream_timeout <= 0:
            raise ValueError("timeouts must be positive: every call carries a deadline")
        self._owns_channel = channel is None
        self.channel = channel or ChannelConfig(target, credentials, tuple(options)).open()
        self.target = target
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self.retry = retry or RetryPolicy()
        self._metadata = auth_metadata(token, metadata)
        self._scoring = scoring_grpc.ScoringServiceStub(self.channel)
        self._events = events_grpc.EventServiceStub(self.channel)
        self._profiles = profiles_grpc.ProfileServiceStub(self.channel)
        method = scoring_pb.DESCRIPTOR.services_by_name["ScoringService"].methods_by_name[
            "StreamScores"
        ]
        self._stream_scores = self.channel.stream_stream(
            f"/{method.containing_service.full_name}/{method.name}",
            request_serializer=None,  # bytes in
            response_deserializer=scoring_pb.StreamScoresResponse.FromString,
        )

    async def close(self) -> None:
        if self._owns_channel:
            await self.channel.close(None)

    async def __aenter__(self) -> AsyncPrioscoreClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _unary(self, name: str, method: Any, request: Any, *, retry: bool = True) -> Any:
        async def attempt(_: int) -> Any:
            return await method(request, timeout=self.timeout, metadata=self._metadata)

        return await with_retries(attempt, self.retry if retry else NO_RETRY, name)

    # -- scoring ------------------------------------------------------------------------

    async def score_entities(
        self,
        profile: str,
        entity_ids: Sequence[str],
        *,
        explain: bool = False,
        top_reasons: int = 0,
        as_of: datetime | float | None = None,
    ) -> list[types_pb2.Score]:
        """Scores stored entities from their stored events (read-only), in request order."""
        request = scoring_pb.ScoreEntitiesRequest(
            profile=profile,
            stored=scoring_pb.StoredEntities(entity_ids=entity_ids),
            explain=explain,
            top_reasons=top_reasons,
        )
        return await self._score(request, as_of)

    async def score_features(
        self,
        profile: str,
        features: np.ndarray,
        entity_ids: Sequence[str] = (),
        *,
        columns: Sequence[str] = (),
        entities: Sequence[types_pb2.Entity] = (),
        explain: bool = False,
        top_reasons: int = 0,
    ) -> list[types_pb2.Score]:
        """Scores a feature matrix with ids and optional attributes (fit rules apply)."""
        request = scoring_pb.ScoreEntitiesRequest(
            profile=profile,
            inline_features=scoring_pb.InlineFeatures(
                features=matrix(features, columns), entity_ids=entity_ids, entities=entities
            ),
            explain=explain,
            top_reasons=top_reasons,
        )
        return await self._score(request)

    async def _score(
        self, request: scoring_pb.ScoreEntitiesRequest, as_of: datetime | float | None = None
    ) -> list[types_pb2.Score]:
        """The one ScoreEntities call behind the stored / features / events variants."""
        if as_of is not None:
            request.as_of.CopyFrom(timestamp(as_of))
        response = await self._unary("ScoreEntities", self._scoring.ScoreEntities, request)
        return list(response.scores)

    async def score_events(
        self,
        profile: str,
        events: Iterable[types_pb2.Event],
        entities: Sequence[types_pb2.Entity] = (),
        *,
        explain: bool = False,
        top_reasons: int = 0,
        as_of: datetime | float | None = None,
    ) -> list[types_pb2.Score]:
        """Scores entities from events carried in the request; nothing is stored."""
        request = scoring_pb.ScoreEntitiesRequest(
            profile=profile,
            inline_events=scoring_pb.InlineEvents(events=events, entities=entities),
            explain=explain,
            top_reasons=top_reasons,
        )
        return await self._score(request, as_of)

    async def rank_page(
        self,
        profile: str,
        *,
        page_size: int = 50,
        page_token: str = "",
        tiers: Sequence[str] = (),
        account_id: str = "",
        min_score: float | None = None,
        include_disqualified: bool = False,
        top_reasons: int = 3,
    ) -> Page[types_pb2.Score]:
        """One page of stored scores, highest first, with `top_reasons` per score."""
        request = scoring_pb.RankEntitiesRequest(
            profile=profile,
            page_size=page_size,
            page_token=page_token,
            tiers=tiers,
            account_id=account_id,
            min_score=min_score,
            include_disqualified=include_disqualified,
            top_reasons=top_reasons,
        )
        response = await self._unary("RankEntities", self._scoring.RankEntities, request)
        return Page(list(response.scores), response.next_page_token, response.total_size)

    async def rank(
        self,
        profile: str,
        *,
        limit: int | None = None,
        page_size: int = 200,
        tiers: Sequence[str] = (),
        account_id: str = "",
        min_score: float | None = None,
        include_disqualified: bool = False,
        top_reasons: int = 3,
    ) -> AsyncIterator[types_pb2.Score]:
        """Stored scores highest first across pages, stopping after `limit` (None: all);
        the filters are rank_page's."""
        token, seen = "", 0
        while limit is None or seen < limit:
            size = page_size if limit is None else min(page_size, limit - seen)
            page = await self.rank_page(
                profile,
                page_size=size,
                page_token=token,
                tiers=tiers,
                account_id=account_id,
                min_score=min_score,
                include_disqualified=include_disqualified,
                top_reasons=top_reasons,
            )
            for score in page.items:
                yield score
            seen += len(page.items)
            token = page.next_page_token
            if not token or not page.items:
                return

    async def history_page(
        self, entity_id: str, profile: str, *, page_size: int = 100, page_token: str = ""
    ) -> Page[scoring_pb.ScoreHistoryPoint]:
        """One page of an entity's stored score history under a profile, newest first."""
        request = scoring_pb.GetScoreHistoryRequest(
            entity_id=entity_id, profile=profile, page_size=page_size, page_token=page_token
        )
        response = await self._unary("GetScoreHistory", self._scoring.GetScoreHistory, request)
        return Page(list(response.points), response.next_page_token, len(response.points))

    async def history(
        self, entity_id: str, profile: str, *, limit: int | None = None
    ) -> list[scoring_pb.ScoreHistoryPoint]:
        """The score history newest first, across pages, at most `limit` points."""
        points: list[scoring_pb.ScoreHistoryPoint] = []
        token = ""
        while limit is None or len(points) < limit:
            size = 1000 if limit is None else min(1000, limit - len(points))
            page = await self.history_page(entity_id, profile, page_size=size, page_token=token)
            points.extend(page.items)
            token = page.next_page_token
            if not token or not page.items:
                break
        return points

    async def watch(
        self,
        *,
        profile: str = "",
        tiers: Sequence[str] = (),
        account_id: str = "",
        duration: float | None = None,
        after_change_id: int | None = None,
    ) -> AsyncIterator[types_pb2.TierChange]:
        """Tier changes as they happen, until the caller stops iterating.

        `after_change_id` first replays the stored changes after it (resume after a
        restart of the caller). A dropped connection (UNAVAILABLE: the server restarting)
        is resumed after the last change received, with the retry policy's backoff and
        for as long as the watch's deadline allows, so no change is missed or repeated.
        `duration` (seconds) is the watch's deadline, and reaching it simply ends the
        iteration; without it the deadline is `stream_timeout` and reaching it raises
        DeadlineExceededError (re-subscribe with after_change_id to keep watching).
        """
        deadline = duration if duration is not None else self.stream_timeout
        end = time.monotonic() + deadline
        cursor, failures = after_change_id, 0
        while True:
            request = scoring_pb.WatchTierChangesRequest(
                profile=profile,
                tiers=tiers,
                account_id=account_id,
                after_change_id=cursor,
                max_changes_per_response=WATCH_CHANGES_PER_RESPONSE,
            )
            call = self._scoring.WatchTierChanges(
                request, timeout=max(end - time.monotonic(), 0.001), metadata=self._metadata
            )
            try:
                async for response in call:
                    failures = 0
                    for change in response.changes:
                        cursor = change.change_id
                        yield change
                return
            except grpc.RpcError as error:
                if duration is not None and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return
                failures += 1
                resumable = error.code() == grpc.StatusCode.UNAVAILABLE and cursor is not None
                delay = self.retry.backoff(failures)
                if not resumable or time.monotonic() + delay >= end:
                    raise from_rpc_error(error, "WatchTierChanges") from None
            finally:
                call.cancel()
            log.info("WatchTierChanges dropped; resuming after change %s in %.2fs", cursor, delay)
            await asyncio.sleep(delay)

    def _open_ingest(self, requests: AsyncIterator[Any]) -> grpc.aio.StreamUnaryCall:
        return self._events.IngestEvents(
            requests, timeout=self.stream_timeout, metadata=self._metadata
        )

    async def ingest(
        self,
        events: Source[types_pb2.Event],
        *,
        batch_size: int = 2_000,
        batches_per_stream: int = 25,
        progress: ingesting.Progress | None = None,
        backfill: bool = False,
    ) -> IngestSummary:
        """Stores events (deduped on message_id); retried streams are replayed safely.

        `backfill`: a historical import, sent as one stream that the server rescores
        once at its end (one history point per entity, no storm of tier changes).

        Events without a message_id are rejected by the server: build them with the
        helpers in prioscore.clients.events, which always set one.
        """
        return await ingesting.ingest_stream(
            self._open_ingest,
            abatches(events, batch_size),
            batches_per_stream=batches_per_stream,
            policy=self.retry,
            progress=progress,
            backfill=backfill,
        )

    async def upsert_entities(self, entities: Sequence[types_pb2.Entity]) -> int:
        """Merges attributes into stored entities. Not retried (see retry.py)."""
        request = events_pb.UpsertEntitiesRequest(entities=entities)
        response = await self._unary(
            "UpsertEntities", self._events.UpsertEntities, request, retry=False
        )
        return int(response.upserted)

    async def get_entity(
        self, entity_id: str, *, include_scores: bool = False, top_reasons: int = 3
    ) -> scoring_pb.GetEntityResponse:
        """One stored entity (kind, account, attributes, times); with `include_scores`
        also its current score under every profile that has scored it."""
        request = scoring_pb.GetEntityRequest(
            entity_id=entity_id, include_scores=include_scores, top_reasons=top_reasons
        )
        return await self._unary("GetEntity", self._scoring.GetEntity, request)

    async def erase_entity(self, entity_id: str) -> EraseResult:
        """Removes an entity and all stored about it; retried, since the end state is fixed.
        The server then drops events about the id until allow_entity.

        NOT_FOUND on a retry (the first attempt's outcome unknown) means the first attempt
        erased it: that returns zero counts with after_retry=True instead of failing.
        """
        request = events_pb.EraseEntityRequest(entity_id=entity_id)

        async def attempt(number: int) -> EraseResult:
            try:
                response = await self._events.EraseEntity(
                    request, timeout=self.timeout, metadata=self._metadata
                )
            except grpc.RpcError as error:
                if number > 0 and error.code() == grpc.StatusCode.NOT_FOUND:
                    return EraseResult(after_retry=True)
                raise
            return EraseResult(
                response.events_removed,
                response.scores_removed,
                response.history_removed,
                response.entity_removed,
            )

        return await with_retries(attempt, self.retry, "EraseEntity")

    async def allow_entity(self, entity_id: str) -> bool:
        """Lifts the suppression erase_entity left on an id, so events about it are stored
        again; returns whether it was suppressed. Retried: the end state is fixed."""
        request = events_pb.AllowEntityRequest(entity_id=entity_id)

        async def attempt(number: int) -> bool:
            response = await self._events.AllowEntity(
                request, timeout=self.timeout, metadata=self._metadata
            )
            return bool(response.was_suppressed)

        return await with_retries(attempt, self.retry, "AllowEntity")
