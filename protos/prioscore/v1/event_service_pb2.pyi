from prioscore.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IngestEventsRequest(_message.Message):
    __slots__ = ("events", "backfill")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_types_pb2.Event]
    backfill: bool
    def __init__(self, events: _Optional[_Iterable[_Union[_types_pb2.Event, _Mapping]]] = ..., backfill: _Optional[bool] = ...) -> None: ...

class IngestEventsResponse(_message.Message):
    __slots__ = ("accepted", "duplicates", "entities_rescored", "tier_changes", "suppressed", "unread_events")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_RESCORED_FIELD_NUMBER: _ClassVar[int]
    TIER_CHANGES_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    UNREAD_EVENTS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    entities_rescored: int
    tier_changes: int
    suppressed: int
    unread_events: _containers.RepeatedCompositeFieldContainer[UnreadEvents]
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., entities_rescored: _Optional[int] = ..., tier_changes: _Optional[int] = ..., suppressed: _Optional[int] = ..., unread_events: _Optional[_Iterable[_Union[UnreadEvents, _Mapping]]] = ...) -> None: ...

class UnreadEvents(_message.Message):
    __slots__ = ("event", "count")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    event: str
    count: int
    def __init__(self, event: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class IngestSegmentRequest(_message.Message):
    __slots__ = ("calls", "sent_at")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedScalarFieldContainer[str]
    sent_at: str
    def __init__(self, calls: _Optional[_Iterable[str]] = ..., sent_at: _Optional[str] = ...) -> None: ...

class IngestSegmentResponse(_message.Message):
    __slots__ = ("accepted", "duplicates", "entities_rescored", "tier_changes", "merged")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_RESCORED_FIELD_NUMBER: _ClassVar[int]
    TIER_CHANGES_FIELD_NUMBER: _ClassVar[int]
    MERGED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    entities_rescored: int
    tier_changes: int
    merged: int
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., entities_rescored: _Optional[int] = ..., tier_changes: _Optional[int] = ..., merged: _Optional[int] = ...) -> None: ...

class UpsertEntitiesRequest(_message.Message):
    __slots__ = ("entities",)
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    entities: _containers.RepeatedCompositeFieldContainer[_types_pb2.Entity]
    def __init__(self, entities: _Optional[_Iterable[_Union[_types_pb2.Entity, _Mapping]]] = ...) -> None: ...

class UpsertEntitiesResponse(_message.Message):
    __slots__ = ("upserted",)
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    upserted: int
    def __init__(self, upserted: _Optional[int] = ...) -> None: ...

class EraseEntityRequest(_message.Message):
    __slots__ = ("entity_id",)
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    def __init__(self, entity_id: _Optional[str] = ...) -> None: ...

class EraseEntityResponse(_message.Message):
    __slots__ = ("events_removed", "scores_removed", "history_removed", "entity_removed")
    EVENTS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    SCORES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    HISTORY_REMOVED_FIELD_NUMBER: _ClassVar[int]
    ENTITY_REMOVED_FIELD_NUMBER: _ClassVar[int]
    events_removed: int
    scores_removed: int
    history_removed: int
    entity_removed: bool
    def __init__(self, events_removed: _Optional[int] = ..., scores_removed: _Optional[int] = ..., history_removed: _Optional[int] = ..., entity_removed: _Optional[bool] = ...) -> None: ...

class AllowEntityRequest(_message.Message):
    __slots__ = ("entity_id",)
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    def __init__(self, entity_id: _Optional[str] = ...) -> None: ...

class AllowEntityResponse(_message.Message):
    __slots__ = ("was_suppressed",)
    WAS_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    was_suppressed: bool
    def __init__(self, was_suppressed: _Optional[bool] = ...) -> None: ...
