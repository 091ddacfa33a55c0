import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from prioscore.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoredEntities(_message.Message):
    __slots__ = ("entity_ids",)
    ENTITY_IDS_FIELD_NUMBER: _ClassVar[int]
    entity_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, entity_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class InlineEvents(_message.Message):
    __slots__ = ("events", "entities")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_types_pb2.Event]
    entities: _containers.RepeatedCompositeFieldContainer[_types_pb2.Entity]
    def __init__(self, events: _Optional[_Iterable[_Union[_types_pb2.Event, _Mapping]]] = ..., entities: _Optional[_Iterable[_Union[_types_pb2.Entity, _Mapping]]] = ...) -> None: ...

class InlineFeatures(_message.Message):
    __slots__ = ("features", "entity_ids", "entities")
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    ENTITY_IDS_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    features: _types_pb2.Matrix
    entity_ids: _containers.RepeatedScalarFieldContainer[str]
    entities: _containers.RepeatedCompositeFieldContainer[_types_pb2.Entity]
    def __init__(self, features: _Optional[_Union[_types_pb2.Matrix, _Mapping]] = ..., entity_ids: _Optional[_Iterable[str]] = ..., entities: _Optional[_Iterable[_Union[_types_pb2.Entity, _Mapping]]] = ...) -> None: ...

class ScoreEntitiesRequest(_message.Message):
    __slots__ = ("profile", "stored", "inline_events", "inline_features", "explain", "top_reasons", "as_of")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    INLINE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    INLINE_FEATURES_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    TOP_REASONS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    profile: str
    stored: StoredEntities
    inline_events: InlineEvents
    inline_features: InlineFeatures
    explain: bool
    top_reasons: int
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, profile: _Optional[str] = ..., stored: _Optional[_Union[StoredEntities, _Mapping]] = ..., inline_events: _Optional[_Union[InlineEvents, _Mapping]] = ..., inline_features: _Optional[_Union[InlineFeatures, _Mapping]] = ..., explain: _Optional[bool] = ..., top_reasons: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ScoreEntitiesResponse(_message.Message):
    __slots__ = ("scores",)
    SCORES_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.RepeatedCompositeFieldContainer[_types_pb2.Score]
    def __init__(self, scores: _Optional[_Iterable[_Union[_types_pb2.Score, _Mapping]]] = ...) -> None: ...

class StreamScoresRequest(_message.Message):
    __slots__ = ("profile", "sequence", "entity_ids", "features", "response_encoding")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ENTITY_IDS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ENCODING_FIELD_NUMBER: _ClassVar[int]
    profile: str
    sequence: int
    entity_ids: _containers.RepeatedScalarFieldContainer[str]
    features: _types_pb2.Matrix
    response_encoding: _types_pb2.ArrayEncoding
    def __init__(self, profile: _Optional[str] = ..., sequence: _Optional[int] = ..., entity_ids: _Optional[_Iterable[str]] = ..., features: _Optional[_Union[_types_pb2.Matrix, _Mapping]] = ..., response_encoding: _Optional[_Union[_types_pb2.ArrayEncoding, str]] = ...) -> None: ...

class StreamScoresResponse(_message.Message):
    __slots__ = ("sequence", "scores", "tiers", "tier_names", "disqualified")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    TIER_NAMES_FIELD_NUMBER: _ClassVar[int]
    DISQUALIFIED_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    scores: _types_pb2.Vector
    tiers: _types_pb2.Vector
    tier_names: _containers.RepeatedScalarFieldContainer[str]
    disqualified: _types_pb2.Vector
    def __init__(self, sequence: _Optional[int] = ..., scores: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., tiers: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., tier_names: _Optional[_Iterable[str]] = ..., disqualified: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ...) -> None: ...

class RankEntitiesRequest(_message.Message):
    __slots__ = ("profile", "page_size", "page_token", "tiers", "account_id", "min_score", "include_disqualified", "top_reasons")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DISQUALIFIED_FIELD_NUMBER: _ClassVar[int]
    TOP_REASONS_FIELD_NUMBER: _ClassVar[int]
    profile: str
    page_size: int
    page_token: str
    tiers: _containers.RepeatedScalarFieldContainer[str]
    account_id: str
    min_score: float
    include_disqualified: bool
    top_reasons: int
    def __init__(self, profile: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., tiers: _Optional[_Iterable[str]] = ..., account_id: _Optional[str] = ..., min_score: _Optional[float] = ..., include_disqualified: _Optional[bool] = ..., top_reasons: _Optional[int] = ...) -> None: ...

class RankEntitiesResponse(_message.Message):
    __slots__ = ("scores", "next_page_token", "total_size")
    SCORES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.RepeatedCompositeFieldContainer[_types_pb2.Score]
    next_page_token: str
    total_size: int
    def __init__(self, scores: _Optional[_Iterable[_Union[_types_pb2.Score, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetScoreHistoryRequest(_message.Message):
    __slots__ = ("entity_id", "profile", "page_size", "page_token")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    profile: str
    page_size: int
    page_token: str
    def __init__(self, entity_id: _Optional[str] = ..., profile: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ScoreHistoryPoint(_message.Message):
    __slots__ = ("time", "score", "tier", "profile_version", "top_reasons", "cause")
    TIME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PROFILE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOP_REASONS_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    score: float
    tier: str
    profile_version: int
    top_reasons: _containers.RepeatedCompositeFieldContainer[_types_pb2.Contribution]
    cause: _types_pb2.TierChangeCause
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., score: _Optional[float] = ..., tier: _Optional[str] = ..., profile_version: _Optional[int] = ..., top_reasons: _Optional[_Iterable[_Union[_types_pb2.Contribution, _Mapping]]] = ..., cause: _Optional[_Union[_types_pb2.TierChangeCause, str]] = ...) -> None: ...

class GetScoreHistoryResponse(_message.Message):
    __slots__ = ("points", "next_page_token")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[ScoreHistoryPoint]
    next_page_token: str
    def __init__(self, points: _Optional[_Iterable[_Union[ScoreHistoryPoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchTierChangesRequest(_message.Message):
    __slots__ = ("profile", "tiers", "account_id", "after_change_id", "causes", "max_changes_per_response")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSES_FIELD_NUMBER: _ClassVar[int]
    MAX_CHANGES_PER_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    profile: str
    tiers: _containers.RepeatedScalarFieldContainer[str]
    account_id: str
    after_change_id: int
    causes: _containers.RepeatedScalarFieldContainer[_types_pb2.TierChangeCause]
    max_changes_per_response: int
    def __init__(self, profile: _Optional[str] = ..., tiers: _Optional[_Iterable[str]] = ..., account_id: _Optional[str] = ..., after_change_id: _Optional[int] = ..., causes: _Optional[_Iterable[_Union[_types_pb2.TierChangeCause, str]]] = ..., max_changes_per_response: _Optional[int] = ...) -> None: ...

class WatchTierChangesResponse(_message.Message):
    __slots__ = ("change", "changes")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    change: _types_pb2.TierChange
    changes: _containers.RepeatedCompositeFieldContainer[_types_pb2.TierChange]
    def __init__(self, change: _Optional[_Union[_types_pb2.TierChange, _Mapping]] = ..., changes: _Optional[_Iterable[_Union[_types_pb2.TierChange, _Mapping]]] = ...) -> None: ...

class GetEntityRequest(_message.Message):
    __slots__ = ("entity_id", "include_scores", "top_reasons")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SCORES_FIELD_NUMBER: _ClassVar[int]
    TOP_REASONS_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    include_scores: bool
    top_reasons: int
    def __init__(self, entity_id: _Optional[str] = ..., include_scores: _Optional[bool] = ..., top_reasons: _Optional[int] = ...) -> None: ...

class GetEntityResponse(_message.Message):
    __slots__ = ("entity", "scores")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    entity: _types_pb2.Entity
    scores: _containers.RepeatedCompositeFieldContainer[_types_pb2.Score]
    def __init__(self, entity: _Optional[_Union[_types_pb2.Entity, _Mapping]] = ..., scores: _Optional[_Iterable[_Union[_types_pb2.Score, _Mapping]]] = ...) -> None: ...
