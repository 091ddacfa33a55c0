"""A textbook world for the ordinal scenario suites: entities, their attributes and
their behaviour in days before a pinned clock, sent through the real server's
EventService, then read back through ScoringService as a client would.

Scenarios say who must outrank whom and which tier a textbook case lands in, so they
hold for any weights a profile may be tuned to, as long as it follows its practice.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import grpc

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc, scoring_service_pb2_grpc, types_pb2
from prioscore.v1 import scoring_service_pb2 as sc

if TYPE_CHECKING:
    from tests.conftest import ServerHandle

NOW = 1_900_000_000.0  # the pinned server clock: every event is "days before" it
DAY = 86_400.0
_ids = itertools.count()


class World:
    """Builds events and reads scores through the generated stubs of a real server."""

    def __init__(self, handle: ServerHandle) -> None:
        handle.clock.set(NOW)
        self.channel: grpc.Channel = handle.channel()
        self.events = event_service_pb2_grpc.EventServiceStub(self.channel)
        self.scoring = scoring_service_pb2_grpc.ScoringServiceStub(self.channel)
        self.pending: list[types_pb2.Event] = []

    def _event(self, entity: str, kind: str, event_kind: int) -> types_pb2.Event:
        e = types_pb2.Event(
            message_id=f"s{next(_ids)}", kind=event_kind, entity_id=entity, entity_kind=kind
        )
        e.time.FromNanoseconds(int(NOW * 1e9))
        self.pending.append(e)
        return e

    def entity(self, entity: str, kind: str, account: str = "", **traits: str | float) -> None:
        """identify (string and numeric traits) and, with `account`, group."""
        e = self._event(entity, kind, types_pb2.EVENT_KIND_IDENTIFY)
        for key, value in traits.items():
            if isinstance(value, str):
                e.traits[key] = value
            else:
                e.numeric_traits[key] = float(value)
        if account:
            self._event(entity, kind, types_pb2.EVENT_KIND_GROUP).account_id = account

    def did(
        self,
        entity: str,
        kind: str,
        name: str,
        days_ago: float = 0.0,
        *,
        value: float | None = None,
        times: int = 1,
        **props: str,
    ) -> None:
        """`times` events of `name`, a minute apart, ending `days_ago` days before NOW."""
        for i in range(times):
            e = self._event(entity, kind, types_pb2.EVENT_KIND_TRACK)
            e.event = name
            e.properties.update(props)
            if value is not None:
                e.value = value
            e.time.FromNanoseconds(int((NOW - days_ago * DAY - 60.0 * i) * 1e9))

    def send(self) -> ev.IngestEventsResponse:
        batch, self.pending = self.pending, []
        reply = self.events.IngestEvents(iter([ev.IngestEventsRequest(events=batch)]))
        assert reply.accepted == len(batch)
        return reply

    def scores(self, profile: str, *ids: str) -> dict[str, types_pb2.Score]:
        if self.pending:
            self.send()
        request = sc.ScoreEntitiesRequest(
            profile=profile, stored=sc.StoredEntities(entity_ids=list(ids)), explain=True
        )
        return {s.entity_id: s for s in self.scoring.ScoreEntities(request).scores}

    def order(self, profile: str, *ids: str) -> list[str]:
        """`ids` from the highest score to the lowest (disqualified last)."""
        scored = self.scores(profile, *ids)
        return sorted(ids, key=lambda i: (scored[i].disqualified, -scored[i].score))

    def tier(self, profile: str, entity: str) -> str:
        return self.scores(profile, entity)[entity].tier
