"""Thin servicers: convert the request, call the service, convert the response.

No logic lives here; errors propagate as domain exceptions and the interceptor in
rpc/errors.py turns them into statuses. Span attributes name the profile and batch size.
A large request (convert.OFFLOAD_ROWS) is converted, and for ScoreEntities scored, in a
worker thread: the loop serves every call, and it must not stop for one caller's batch.
A large inline ScoreEntities request or IngestEvents message (convert.PROCESS_BYTES) is
not even parsed here: its bytes go to a worker process (rpc/inline_scoring.py,
rpc/ingest_offload.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from opentelemetry import trace

from prioscore.server.config import Settings
from prioscore.server.errors import InvalidArgumentError
from prioscore.server.handlers import Handlers, RankQuery, Service, WatchFilter, tier_set
from prioscore.server.rpc import convert, profiles_servicer
from prioscore.server.rpc.event_ingest import ingest_events
from prioscore.server.rpc.ingest_offload import EventsBytes, IngestOffload
from prioscore.server.rpc.ingest_offload import register as register_offload
from prioscore.server.rpc.inline_scoring import InlineBytes, InlineScoring
from prioscore.server.rpc.inline_scoring import register as register_inline
from prioscore.server.rpc.segment_ingest import ingest_segment
from prioscore.server.rpc.streams import bounded
from prioscore.server.rpc.watch_responses import TierChangeResponses
from prioscore.server.rpc.watch_responses import register as register_watch
from prioscore.v1 import (
    event_service_pb2 as events_pb,
)
from prioscore.v1 import (
    event_service_pb2_grpc as events_grpc,
)
from prioscore.v1 import (
    scoring_service_pb2 as scoring_pb,
)
from prioscore.v1 import (
    scoring_service_pb2_grpc as scoring_grpc,
)
from prioscore.v1 import (
    types_pb2,
)

SERVICE_NAMES = (
    "prioscore.v1.ScoringService",
    "prioscore.v1.EventService",
    "prioscore.v1.ProfileService",
)

Context = grpc.aio.ServicerContext


def _rows(request: scoring_pb.ScoreEntitiesRequest) -> int:
    """How many rows ScoreEntities will convert and score (read before converting)."""
    source = request.WhichOneof("source")
    if source == "stored":
        return len(request.stored.entity_ids)
    if source == "inline_events":
        return len(request.inline_events.events)
    if source == "inline_features":
        shape = request.inline_features.features.shape
        return int(shape[0]) if shape else 0
    return 0


def _annotate(profile: str, batch: int) -> None:
    span = trace.get_current_span()
    span.set_attribute("prioscore.profile", profile)
    span.set_attribute("prioscore.batch_size", batch)


class ScoringServicer(scoring_grpc.ScoringServiceServicer):
    def __init__(
        self, service: Service, settings: Settings, inline: InlineScoring | None = None
    ) -> None:
        self.service = service
        self.settings = settings
        self._limits = settings.limits
        self._inline = inline  # None where it scores for a worker (inline_scoring.py)
        self._change_responses = TierChangeResponses()  # one message a change, every stream

    async def ScoreEntities(
        self, request: scoring_pb.ScoreEntitiesRequest | InlineBytes, context: Context
    ) -> scoring_pb.ScoreEntitiesResponse | bytes:
        if isinstance(request, InlineBytes):  # over convert.PROCESS_BYTES: in a worker
            assert self._inline is not None  # a worker's servicer is never served
            return await self._inline.score(request)
        if _rows(request) > convert.OFFLOAD_ROWS:
            return await asyncio.to_thread(self._score_entities, request)
        return self._score_entities(request)

    def _score_entities(
        self, request: scoring_pb.ScoreEntitiesRequest
    ) -> scoring_pb.ScoreEntitiesResponse:
        as_of = convert.seconds_of(request.as_of) if request.HasField("as_of") else None
        limits = self._limits
        if as_of is not None and not limits.min_timestamp <= as_of <= limits.max_timestamp:
            # Beyond these the response's timestamps cannot be written (INTERNAL before).
            raise InvalidArgumentError.of("as_of", "must be between 1970-01-01 and 9999-12-31")
        reasons = request.top_reasons or (3 if request.explain else 0)
        if reasons < 0:
            raise InvalidArgumentError.of("top_reasons", "must not be negative")
        options: dict[str, Any] = dict(explain=request.explain or reasons > 0, top_reasons=reasons)
        source = request.WhichOneof("source")
        response = scoring_pb.ScoreEntitiesResponse()
        if source == "stored":
            ids = request.stored.entity_ids
            _annotate(request.profile, len(ids))
            # As of now and unexplained, the current stored scores answer (as RankEntities
            # lists them); anything else, or a score too old for that, is computed.
            current = None
            if as_of is None and not options["explain"]:
                current = self.service.current_scores(request.profile, ids)
            if current is not None:
                convert.current_scores_to_proto(current, response.scores)
                return response
            scored = self.service.score_stored(request.profile, ids, as_of=as_of, **options)
        elif source == "inline_events":
            inline = request.inline_events
            events = convert.events_from_proto(inline.events, "inline_events.events")
            entities = convert.entities_from_proto(inline.entities)
            _annotate(request.profile, len(events))
            scored = self.service.score_events(
                request.profile, events, entities, as_of=as_of, **options
            )
        elif source == "inline_features":
            inline_f = request.inline_features
            field = "inline_features.features"  # what every violation of the matrix names
            matrix = convert.matrix_from_proto(inline_f.features, field)
            _annotate(request.profile, matrix.shape[0])
            scored = self.service.score_features(
                request.profile,
                matrix,
                list(inline_f.entity_ids),
                convert.entities_from_proto(inline_f.entities),
                list(inline_f.features.columns),
                features_field=field,
                numbers_field=convert.numbers_field(inline_f.features),
                **options,
            )
            if not scored.entity_ids:
                scored.entity_ids = [str(i) for i in range(matrix.shape[0])]
        else:
            raise InvalidArgumentError.of(
                "source", "set one of stored, inline_events, inline_features"
            )
        when = as_of if as_of is not None else self.service.now()
        convert.scores_to_proto(scored, when, request.explain, response.scores)
        return response

    async def StreamScores(
        self, request_iterator: AsyncIterator[scoring_pb.StreamScoresRequest], context: Context
    ) -> AsyncIterator[scoring_pb.StreamScoresResponse]:
        rows = 0
        async for index, request in bounded(request_iterator, self.settings.max_stream_messages):
            # Named as the interceptor names a stream message's contract violations.
            field = f"messages[{index}].features"
            matrix = convert.matrix_from_proto(request.features, field)
            rows += matrix.shape[0]
            _annotate(request.profile, rows)  # the stream's span carries the running total
            scored = self.service.score_features(
                request.profile,
                matrix,
                request.entity_ids,
                None,
                list(request.features.columns),
                features_field=field,
                numbers_field=convert.numbers_field(request.features),
            )
            packed = request.response_encoding == types_pb2.ARRAY_ENCODING_PACKED
            result = scored.result
            yield scoring_pb.StreamScoresResponse(
                sequence=request.sequence,
                scores=convert.vector(result.score, packed),
                tiers=convert.vector(result.tier.astype("<i4"), packed),
                tier_names=scored.profile.tiers.names,
                disqualified=convert.vector(result.disqualified, packed),
            )

    async def RankEntities(
        self, request: scoring_pb.RankEntitiesRequest, context: Context
    ) -> scoring_pb.RankEntitiesResponse:
        _annotate(request.profile, request.page_size)
        page = self.service.rank(
            RankQuery(
                profile=request.profile,
                page_size=request.page_size,
                page_token=request.page_token,
                tiers=tuple(request.tiers),
                account_id=request.account_id,
                min_score=request.min_score if request.HasField("min_score") else None,
                include_disqualified=request.include_disqualified,
            )
        )
        reasons = request.top_reasons if request.top_reasons > 0 else 3
        return scoring_pb.RankEntitiesResponse(
            scores=[convert.stored_score_to_proto(s, reasons) for s in page.scores],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def GetScoreHistory(
        self, request: scoring_pb.GetScoreHistoryRequest, context: Context
    ) -> scoring_pb.GetScoreHistoryResponse:
        page = self.service.history(
            request.entity_id, request.profile, request.page_size, request.page_token
        )
        return scoring_pb.GetScoreHistoryResponse(
            points=[convert.history_point_to_proto(p) for p in page.points],
            next_page_token=page.next_page_token,
        )

    async def WatchTierChanges(
        self, request: scoring_pb.WatchTierChangesRequest, context: Context
    ) -> AsyncIterator[bytes]:
        """Serialized messages (watch_responses.register): each built once for every
        stream that sends it."""
        wanted = WatchFilter(
            request.profile,
            tier_set(request.tiers),
            request.account_id,
            convert.causes_from_proto(request.causes),
        )
        after = request.after_change_id if request.HasField("after_change_id") else None
        responses = self._change_responses
        most = request.max_changes_per_response
        if 0 <= most <= 1:  # one change per message, in `change`
            async for change in self.service.watch_tier_changes(wanted, after):
                yield responses.of(change)
            return
        async for batch in self.service.watch_tier_change_batches(wanted, after, most):
            yield responses.of_batch(batch)

    async def GetEntity(
        self, request: scoring_pb.GetEntityRequest, context: Context
    ) -> scoring_pb.GetEntityResponse:
        record, scores = self.service.get_entity(
            request.entity_id, with_scores=request.include_scores
        )
        reasons = request.top_reasons if request.top_reasons > 0 else 3
        return scoring_pb.GetEntityResponse(
            entity=convert.entity_to_proto(record),
            scores=[convert.stored_score_to_proto(s, reasons) for s in scores],
        )


class EventServicer(events_grpc.EventServiceServicer):
    def __init__(self, service: Service, settings: Settings, offload: IngestOffload) -> None:
        self.service = service
        self.settings = settings
        self._offload = offload

    async def IngestEvents(
        self,
        request_iterator: AsyncIterator[events_pb.IngestEventsRequest | EventsBytes],
        context: Context,
    ) -> events_pb.IngestEventsResponse:
        return await ingest_events(self.service, self.settings, request_iterator, self._offload)

    async def IngestSegment(
        self, request_iterator: AsyncIterator[events_pb.IngestSegmentRequest], context: Context
    ) -> events_pb.IngestSegmentResponse:
        return await ingest_segment(self.service, self.settings, request_iterator)

    async def UpsertEntities(
        self, request: events_pb.UpsertEntitiesRequest, context: Context
    ) -> events_pb.UpsertEntitiesResponse:
        count = await self.service.aupsert_entities(convert.entities_from_proto(request.entities))
        return events_pb.UpsertEntitiesResponse(upserted=count)

    async def EraseEntity(
        self, request: events_pb.EraseEntityRequest, context: Context
    ) -> events_pb.EraseEntityResponse:
        counts = await self.service.aerase_entity(request.entity_id)
        return events_pb.EraseEntityResponse(
            events_removed=counts.events,
            scores_removed=counts.scores,
            history_removed=counts.history,
            entity_removed=bool(counts.entities),
        )

    async def AllowEntity(
        self, request: events_pb.AllowEntityRequest, context: Context
    ) -> events_pb.AllowEntityResponse:
        return events_pb.AllowEntityResponse(
            was_suppressed=await self.service.aallow_entity(request.entity_id)
        )


def add_servicers(
    server: grpc.aio.Server, handlers: Handlers, settings: Settings
) -> tuple[InlineScoring, IngestOffload]:
    """Registers every servicer; returns the inline scoring's and the ingest's workers,
    for shutdown."""
    service = handlers.service
    inline = InlineScoring(service, settings, ScoringServicer)
    scoring = ScoringServicer(service, settings, inline)
    scoring_grpc.add_ScoringServiceServicer_to_server(scoring, server)
    register_inline(server, scoring.ScoreEntities)  # ScoreEntities on bytes when large
    register_watch(server, scoring.WatchTierChanges)  # its messages serialized once
    offload = IngestOffload(service, settings)
    events = EventServicer(service, settings, offload)
    events_grpc.add_EventServiceServicer_to_server(events, server)
    register_offload(server, events.IngestEvents)  # IngestEvents's messages bytes when large
    profiles_servicer.add_to_server(server, handlers.profiles)
    return inline, offload
