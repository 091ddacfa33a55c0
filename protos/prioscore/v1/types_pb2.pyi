import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Dtype(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[Dtype]
    DTYPE_FLOAT32: _ClassVar[Dtype]
    DTYPE_FLOAT64: _ClassVar[Dtype]
    DTYPE_INT32: _ClassVar[Dtype]
    DTYPE_INT64: _ClassVar[Dtype]
    DTYPE_BOOL: _ClassVar[Dtype]

class ArrayEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARRAY_ENCODING_UNSPECIFIED: _ClassVar[ArrayEncoding]
    ARRAY_ENCODING_BYTES: _ClassVar[ArrayEncoding]
    ARRAY_ENCODING_PACKED: _ClassVar[ArrayEncoding]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_TRACK: _ClassVar[EventKind]
    EVENT_KIND_IDENTIFY: _ClassVar[EventKind]
    EVENT_KIND_GROUP: _ClassVar[EventKind]

class ContributionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTRIBUTION_KIND_UNSPECIFIED: _ClassVar[ContributionKind]
    CONTRIBUTION_KIND_SIGNAL: _ClassVar[ContributionKind]
    CONTRIBUTION_KIND_FIT: _ClassVar[ContributionKind]

class TierChangeCause(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_CHANGE_CAUSE_UNSPECIFIED: _ClassVar[TierChangeCause]
    TIER_CHANGE_CAUSE_EVENT: _ClassVar[TierChangeCause]
    TIER_CHANGE_CAUSE_CLOCK: _ClassVar[TierChangeCause]
    TIER_CHANGE_CAUSE_RELOAD: _ClassVar[TierChangeCause]
    TIER_CHANGE_CAUSE_PROMOTION: _ClassVar[TierChangeCause]
    TIER_CHANGE_CAUSE_BACKFILL: _ClassVar[TierChangeCause]
    TIER_CHANGE_CAUSE_ENTITY_UPDATE: _ClassVar[TierChangeCause]
    TIER_CHANGE_CAUSE_ERASURE: _ClassVar[TierChangeCause]
DTYPE_UNSPECIFIED: Dtype
DTYPE_FLOAT32: Dtype
DTYPE_FLOAT64: Dtype
DTYPE_INT32: Dtype
DTYPE_INT64: Dtype
DTYPE_BOOL: Dtype
ARRAY_ENCODING_UNSPECIFIED: ArrayEncoding
ARRAY_ENCODING_BYTES: ArrayEncoding
ARRAY_ENCODING_PACKED: ArrayEncoding
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_TRACK: EventKind
EVENT_KIND_IDENTIFY: EventKind
EVENT_KIND_GROUP: EventKind
CONTRIBUTION_KIND_UNSPECIFIED: ContributionKind
CONTRIBUTION_KIND_SIGNAL: ContributionKind
CONTRIBUTION_KIND_FIT: ContributionKind
TIER_CHANGE_CAUSE_UNSPECIFIED: TierChangeCause
TIER_CHANGE_CAUSE_EVENT: TierChangeCause
TIER_CHANGE_CAUSE_CLOCK: TierChangeCause
TIER_CHANGE_CAUSE_RELOAD: TierChangeCause
TIER_CHANGE_CAUSE_PROMOTION: TierChangeCause
TIER_CHANGE_CAUSE_BACKFILL: TierChangeCause
TIER_CHANGE_CAUSE_ENTITY_UPDATE: TierChangeCause
TIER_CHANGE_CAUSE_ERASURE: TierChangeCause

class Matrix(_message.Message):
    __slots__ = ("dtype", "shape", "data", "values", "columns")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    dtype: Dtype
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    values: _containers.RepeatedScalarFieldContainer[float]
    columns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dtype: _Optional[_Union[Dtype, str]] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ..., values: _Optional[_Iterable[float]] = ..., columns: _Optional[_Iterable[str]] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("dtype", "length", "data", "values")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dtype: Dtype
    length: int
    data: bytes
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, dtype: _Optional[_Union[Dtype, str]] = ..., length: _Optional[int] = ..., data: _Optional[bytes] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("message_id", "kind", "entity_id", "event", "time", "value", "properties", "metrics", "traits", "numeric_traits", "account_id", "entity_kind")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class TraitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class NumericTraitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_TRAITS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KIND_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    kind: EventKind
    entity_id: str
    event: str
    time: _timestamp_pb2.Timestamp
    value: float
    properties: _containers.ScalarMap[str, str]
    metrics: _containers.ScalarMap[str, float]
    traits: _containers.ScalarMap[str, str]
    numeric_traits: _containers.ScalarMap[str, float]
    account_id: str
    entity_kind: str
    def __init__(self, message_id: _Optional[str] = ..., kind: _Optional[_Union[EventKind, str]] = ..., entity_id: _Optional[str] = ..., event: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[float] = ..., properties: _Optional[_Mapping[str, str]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., traits: _Optional[_Mapping[str, str]] = ..., numeric_traits: _Optional[_Mapping[str, float]] = ..., account_id: _Optional[str] = ..., entity_kind: _Optional[str] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("id", "kind", "account_id", "attributes", "numeric_attributes", "create_time", "update_time")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class NumericAttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    account_id: str
    attributes: _containers.ScalarMap[str, str]
    numeric_attributes: _containers.ScalarMap[str, float]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., account_id: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., numeric_attributes: _Optional[_Mapping[str, float]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Contribution(_message.Message):
    __slots__ = ("name", "feature", "points", "kind", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    feature: float
    points: float
    kind: ContributionKind
    value: str
    def __init__(self, name: _Optional[str] = ..., feature: _Optional[float] = ..., points: _Optional[float] = ..., kind: _Optional[_Union[ContributionKind, str]] = ..., value: _Optional[str] = ...) -> None: ...

class Contributor(_message.Message):
    __slots__ = ("entity_id", "points")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    points: float
    def __init__(self, entity_id: _Optional[str] = ..., points: _Optional[float] = ...) -> None: ...

class Score(_message.Message):
    __slots__ = ("entity_id", "profile", "profile_version", "score", "engagement", "fit", "tier", "disqualified", "disqualify_reason", "contributions", "top_reasons", "update_time", "top_contributors")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_FIELD_NUMBER: _ClassVar[int]
    FIT_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    DISQUALIFIED_FIELD_NUMBER: _ClassVar[int]
    DISQUALIFY_REASON_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    TOP_REASONS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TOP_CONTRIBUTORS_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    profile: str
    profile_version: int
    score: float
    engagement: float
    fit: float
    tier: str
    disqualified: bool
    disqualify_reason: str
    contributions: _containers.RepeatedCompositeFieldContainer[Contribution]
    top_reasons: _containers.RepeatedCompositeFieldContainer[Contribution]
    update_time: _timestamp_pb2.Timestamp
    top_contributors: _containers.RepeatedCompositeFieldContainer[Contributor]
    def __init__(self, entity_id: _Optional[str] = ..., profile: _Optional[str] = ..., profile_version: _Optional[int] = ..., score: _Optional[float] = ..., engagement: _Optional[float] = ..., fit: _Optional[float] = ..., tier: _Optional[str] = ..., disqualified: _Optional[bool] = ..., disqualify_reason: _Optional[str] = ..., contributions: _Optional[_Iterable[_Union[Contribution, _Mapping]]] = ..., top_reasons: _Optional[_Iterable[_Union[Contribution, _Mapping]]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., top_contributors: _Optional[_Iterable[_Union[Contributor, _Mapping]]] = ...) -> None: ...

class TierChange(_message.Message):
    __slots__ = ("entity_id", "profile", "previous_tier", "tier", "previous_score", "score", "time", "cause_message_id", "account_id", "change_id", "cause")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_TIER_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SCORE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CAUSE_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    profile: str
    previous_tier: str
    tier: str
    previous_score: float
    score: float
    time: _timestamp_pb2.Timestamp
    cause_message_id: str
    account_id: str
    change_id: int
    cause: TierChangeCause
    def __init__(self, entity_id: _Optional[str] = ..., profile: _Optional[str] = ..., previous_tier: _Optional[str] = ..., tier: _Optional[str] = ..., previous_score: _Optional[float] = ..., score: _Optional[float] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cause_message_id: _Optional[str] = ..., account_id: _Optional[str] = ..., change_id: _Optional[int] = ..., cause: _Optional[_Union[TierChangeCause, str]] = ...) -> None: ...

class ProfileIssue(_message.Message):
    __slots__ = ("file", "line", "key", "reason")
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    file: str
    line: int
    key: str
    reason: str
    def __init__(self, file: _Optional[str] = ..., line: _Optional[int] = ..., key: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("entity_id", "label", "outcome_time")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_TIME_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    label: bool
    outcome_time: _timestamp_pb2.Timestamp
    def __init__(self, entity_id: _Optional[str] = ..., label: _Optional[bool] = ..., outcome_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
