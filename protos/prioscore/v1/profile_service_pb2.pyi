from prioscore.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScoreDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCORE_DIRECTION_UNSPECIFIED: _ClassVar[ScoreDirection]
    SCORE_DIRECTION_HIGHER_IS_BETTER: _ClassVar[ScoreDirection]
    SCORE_DIRECTION_HIGHER_IS_RISKIER: _ClassVar[ScoreDirection]

class CombineMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMBINE_MODE_UNSPECIFIED: _ClassVar[CombineMode]
    COMBINE_MODE_BLEND: _ClassVar[CombineMode]
    COMBINE_MODE_MULTIPLY: _ClassVar[CombineMode]
SCORE_DIRECTION_UNSPECIFIED: ScoreDirection
SCORE_DIRECTION_HIGHER_IS_BETTER: ScoreDirection
SCORE_DIRECTION_HIGHER_IS_RISKIER: ScoreDirection
COMBINE_MODE_UNSPECIFIED: CombineMode
COMBINE_MODE_BLEND: CombineMode
COMBINE_MODE_MULTIPLY: CombineMode

class ProfileSummary(_message.Message):
    __slots__ = ("name", "version", "entity", "description", "signal_names", "tier_names", "digest", "source", "shadow_version", "direction")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_NAMES_FIELD_NUMBER: _ClassVar[int]
    TIER_NAMES_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SHADOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    entity: str
    description: str
    signal_names: _containers.RepeatedScalarFieldContainer[str]
    tier_names: _containers.RepeatedScalarFieldContainer[str]
    digest: str
    source: str
    shadow_version: int
    direction: ScoreDirection
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., entity: _Optional[str] = ..., description: _Optional[str] = ..., signal_names: _Optional[_Iterable[str]] = ..., tier_names: _Optional[_Iterable[str]] = ..., digest: _Optional[str] = ..., source: _Optional[str] = ..., shadow_version: _Optional[int] = ..., direction: _Optional[_Union[ScoreDirection, str]] = ...) -> None: ...

class ListProfilesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProfilesResponse(_message.Message):
    __slots__ = ("profiles", "next_page_token")
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[ProfileSummary]
    next_page_token: str
    def __init__(self, profiles: _Optional[_Iterable[_Union[ProfileSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SignalMatch(_message.Message):
    __slots__ = ("key", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class SignalDetail(_message.Message):
    __slots__ = ("name", "event", "aggregate", "weight", "cap", "half_life_days", "window_days", "missing", "match", "description", "scores", "relation", "min_score", "by", "per_day", "once_per", "min_volume")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    CAP_FIELD_NUMBER: _ClassVar[int]
    HALF_LIFE_DAYS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    PER_DAY_FIELD_NUMBER: _ClassVar[int]
    ONCE_PER_FIELD_NUMBER: _ClassVar[int]
    MIN_VOLUME_FIELD_NUMBER: _ClassVar[int]
    name: str
    event: str
    aggregate: str
    weight: float
    cap: float
    half_life_days: float
    window_days: float
    missing: float
    match: _containers.RepeatedCompositeFieldContainer[SignalMatch]
    description: str
    scores: str
    relation: str
    min_score: float
    by: str
    per_day: int
    once_per: str
    min_volume: float
    def __init__(self, name: _Optional[str] = ..., event: _Optional[str] = ..., aggregate: _Optional[str] = ..., weight: _Optional[float] = ..., cap: _Optional[float] = ..., half_life_days: _Optional[float] = ..., window_days: _Optional[float] = ..., missing: _Optional[float] = ..., match: _Optional[_Iterable[_Union[SignalMatch, _Mapping]]] = ..., description: _Optional[str] = ..., scores: _Optional[str] = ..., relation: _Optional[str] = ..., min_score: _Optional[float] = ..., by: _Optional[str] = ..., per_day: _Optional[int] = ..., once_per: _Optional[str] = ..., min_volume: _Optional[float] = ...) -> None: ...

class CategoryRule(_message.Message):
    __slots__ = ("name", "property", "equals", "prefixes", "contains", "eliminatory")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    EQUALS_FIELD_NUMBER: _ClassVar[int]
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    CONTAINS_FIELD_NUMBER: _ClassVar[int]
    ELIMINATORY_FIELD_NUMBER: _ClassVar[int]
    name: str
    property: str
    equals: _containers.RepeatedScalarFieldContainer[str]
    prefixes: _containers.RepeatedScalarFieldContainer[str]
    contains: _containers.RepeatedScalarFieldContainer[str]
    eliminatory: bool
    def __init__(self, name: _Optional[str] = ..., property: _Optional[str] = ..., equals: _Optional[_Iterable[str]] = ..., prefixes: _Optional[_Iterable[str]] = ..., contains: _Optional[_Iterable[str]] = ..., eliminatory: _Optional[bool] = ...) -> None: ...

class FitRange(_message.Message):
    __slots__ = ("min", "max", "points")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    points: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ..., points: _Optional[float] = ...) -> None: ...

class FitRule(_message.Message):
    __slots__ = ("attribute", "points", "ranges", "max_award")
    class PointsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    MAX_AWARD_FIELD_NUMBER: _ClassVar[int]
    attribute: str
    points: _containers.ScalarMap[str, float]
    ranges: _containers.RepeatedCompositeFieldContainer[FitRange]
    max_award: float
    def __init__(self, attribute: _Optional[str] = ..., points: _Optional[_Mapping[str, float]] = ..., ranges: _Optional[_Iterable[_Union[FitRange, _Mapping]]] = ..., max_award: _Optional[float] = ...) -> None: ...

class AttributeCondition(_message.Message):
    __slots__ = ("attribute", "values", "reason")
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    attribute: str
    values: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, attribute: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class AlertHysteresis(_message.Message):
    __slots__ = ("margin", "min_days_in_tier")
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    MIN_DAYS_IN_TIER_FIELD_NUMBER: _ClassVar[int]
    margin: float
    min_days_in_tier: float
    def __init__(self, margin: _Optional[float] = ..., min_days_in_tier: _Optional[float] = ...) -> None: ...

class TierThreshold(_message.Message):
    __slots__ = ("name", "threshold")
    NAME_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    name: str
    threshold: float
    def __init__(self, name: _Optional[str] = ..., threshold: _Optional[float] = ...) -> None: ...

class GetProfileResponse(_message.Message):
    __slots__ = ("profile", "toml", "signals", "tier_mode", "tiers", "fit_weight", "members", "categories", "fit", "disqualify", "scope", "alerts", "direction", "combine", "max_points", "fit_max_points", "events", "grid")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TOML_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    TIER_MODE_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    FIT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    FIT_FIELD_NUMBER: _ClassVar[int]
    DISQUALIFY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    COMBINE_FIELD_NUMBER: _ClassVar[int]
    MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    FIT_MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    GRID_FIELD_NUMBER: _ClassVar[int]
    profile: ProfileSummary
    toml: str
    signals: _containers.RepeatedCompositeFieldContainer[SignalDetail]
    tier_mode: str
    tiers: _containers.RepeatedCompositeFieldContainer[TierThreshold]
    fit_weight: float
    members: str
    categories: _containers.RepeatedCompositeFieldContainer[CategoryRule]
    fit: _containers.RepeatedCompositeFieldContainer[FitRule]
    disqualify: _containers.RepeatedCompositeFieldContainer[AttributeCondition]
    scope: _containers.RepeatedCompositeFieldContainer[AttributeCondition]
    alerts: AlertHysteresis
    direction: ScoreDirection
    combine: CombineMode
    max_points: float
    fit_max_points: float
    events: _containers.RepeatedScalarFieldContainer[str]
    grid: GridTiers
    def __init__(self, profile: _Optional[_Union[ProfileSummary, _Mapping]] = ..., toml: _Optional[str] = ..., signals: _Optional[_Iterable[_Union[SignalDetail, _Mapping]]] = ..., tier_mode: _Optional[str] = ..., tiers: _Optional[_Iterable[_Union[TierThreshold, _Mapping]]] = ..., fit_weight: _Optional[float] = ..., members: _Optional[str] = ..., categories: _Optional[_Iterable[_Union[CategoryRule, _Mapping]]] = ..., fit: _Optional[_Iterable[_Union[FitRule, _Mapping]]] = ..., disqualify: _Optional[_Iterable[_Union[AttributeCondition, _Mapping]]] = ..., scope: _Optional[_Iterable[_Union[AttributeCondition, _Mapping]]] = ..., alerts: _Optional[_Union[AlertHysteresis, _Mapping]] = ..., direction: _Optional[_Union[ScoreDirection, str]] = ..., combine: _Optional[_Union[CombineMode, str]] = ..., max_points: _Optional[float] = ..., fit_max_points: _Optional[float] = ..., events: _Optional[_Iterable[str]] = ..., grid: _Optional[_Union[GridTiers, _Mapping]] = ...) -> None: ...

class GridTiers(_message.Message):
    __slots__ = ("fit_grades", "engagement_levels")
    FIT_GRADES_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_LEVELS_FIELD_NUMBER: _ClassVar[int]
    fit_grades: _containers.RepeatedCompositeFieldContainer[TierThreshold]
    engagement_levels: _containers.RepeatedCompositeFieldContainer[TierThreshold]
    def __init__(self, fit_grades: _Optional[_Iterable[_Union[TierThreshold, _Mapping]]] = ..., engagement_levels: _Optional[_Iterable[_Union[TierThreshold, _Mapping]]] = ...) -> None: ...

class ValidateProfileRequest(_message.Message):
    __slots__ = ("toml", "filename")
    TOML_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    toml: str
    filename: str
    def __init__(self, toml: _Optional[str] = ..., filename: _Optional[str] = ...) -> None: ...

class ValidateProfileResponse(_message.Message):
    __slots__ = ("valid", "issues", "profile")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    issues: _containers.RepeatedCompositeFieldContainer[_types_pb2.ProfileIssue]
    profile: ProfileSummary
    def __init__(self, valid: _Optional[bool] = ..., issues: _Optional[_Iterable[_Union[_types_pb2.ProfileIssue, _Mapping]]] = ..., profile: _Optional[_Union[ProfileSummary, _Mapping]] = ...) -> None: ...

class ReloadProfilesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadProfilesResponse(_message.Message):
    __slots__ = ("loaded", "issues", "applied")
    LOADED_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    loaded: _containers.RepeatedScalarFieldContainer[str]
    issues: _containers.RepeatedCompositeFieldContainer[_types_pb2.ProfileIssue]
    applied: bool
    def __init__(self, loaded: _Optional[_Iterable[str]] = ..., issues: _Optional[_Iterable[_Union[_types_pb2.ProfileIssue, _Mapping]]] = ..., applied: _Optional[bool] = ...) -> None: ...

class TierConversion(_message.Message):
    __slots__ = ("tier", "entities", "positives", "rate")
    TIER_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    POSITIVES_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    tier: str
    entities: int
    positives: int
    rate: float
    def __init__(self, tier: _Optional[str] = ..., entities: _Optional[int] = ..., positives: _Optional[int] = ..., rate: _Optional[float] = ...) -> None: ...

class BacktestReport(_message.Message):
    __slots__ = ("profile", "auc", "precision_at_k", "k", "lift_by_decile", "tier_conversions", "base_rate", "entities", "positives")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    AUC_FIELD_NUMBER: _ClassVar[int]
    PRECISION_AT_K_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    LIFT_BY_DECILE_FIELD_NUMBER: _ClassVar[int]
    TIER_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    BASE_RATE_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    POSITIVES_FIELD_NUMBER: _ClassVar[int]
    profile: str
    auc: float
    precision_at_k: float
    k: int
    lift_by_decile: _containers.RepeatedScalarFieldContainer[float]
    tier_conversions: _containers.RepeatedCompositeFieldContainer[TierConversion]
    base_rate: float
    entities: int
    positives: int
    def __init__(self, profile: _Optional[str] = ..., auc: _Optional[float] = ..., precision_at_k: _Optional[float] = ..., k: _Optional[int] = ..., lift_by_decile: _Optional[_Iterable[float]] = ..., tier_conversions: _Optional[_Iterable[_Union[TierConversion, _Mapping]]] = ..., base_rate: _Optional[float] = ..., entities: _Optional[int] = ..., positives: _Optional[int] = ...) -> None: ...

class ShadowComparison(_message.Message):
    __slots__ = ("baseline_profile", "top_k_overlap", "rank_correlation", "tier_moves")
    BASELINE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    RANK_CORRELATION_FIELD_NUMBER: _ClassVar[int]
    TIER_MOVES_FIELD_NUMBER: _ClassVar[int]
    baseline_profile: str
    top_k_overlap: float
    rank_correlation: float
    tier_moves: int
    def __init__(self, baseline_profile: _Optional[str] = ..., top_k_overlap: _Optional[float] = ..., rank_correlation: _Optional[float] = ..., tier_moves: _Optional[int] = ...) -> None: ...

class BacktestRequest(_message.Message):
    __slots__ = ("profile", "candidate_toml", "outcomes", "k", "horizon_days", "shadow_profile")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_TOML_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    HORIZON_DAYS_FIELD_NUMBER: _ClassVar[int]
    SHADOW_PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: str
    candidate_toml: str
    outcomes: _containers.RepeatedCompositeFieldContainer[_types_pb2.Outcome]
    k: int
    horizon_days: float
    shadow_profile: str
    def __init__(self, profile: _Optional[str] = ..., candidate_toml: _Optional[str] = ..., outcomes: _Optional[_Iterable[_Union[_types_pb2.Outcome, _Mapping]]] = ..., k: _Optional[int] = ..., horizon_days: _Optional[float] = ..., shadow_profile: _Optional[str] = ...) -> None: ...

class BacktestResponse(_message.Message):
    __slots__ = ("report", "shadow")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    report: BacktestReport
    shadow: ShadowComparison
    def __init__(self, report: _Optional[_Union[BacktestReport, _Mapping]] = ..., shadow: _Optional[_Union[ShadowComparison, _Mapping]] = ...) -> None: ...

class FittedWeight(_message.Message):
    __slots__ = ("name", "weight", "previous_weight")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    name: str
    weight: float
    previous_weight: float
    def __init__(self, name: _Optional[str] = ..., weight: _Optional[float] = ..., previous_weight: _Optional[float] = ...) -> None: ...

class ProbabilityCalibration(_message.Message):
    __slots__ = ("slope", "intercept")
    SLOPE_FIELD_NUMBER: _ClassVar[int]
    INTERCEPT_FIELD_NUMBER: _ClassVar[int]
    slope: float
    intercept: float
    def __init__(self, slope: _Optional[float] = ..., intercept: _Optional[float] = ...) -> None: ...

class CalibrateRequest(_message.Message):
    __slots__ = ("profile", "outcomes", "l2", "horizon_days", "k")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    L2_FIELD_NUMBER: _ClassVar[int]
    HORIZON_DAYS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    profile: str
    outcomes: _containers.RepeatedCompositeFieldContainer[_types_pb2.Outcome]
    l2: float
    horizon_days: float
    k: int
    def __init__(self, profile: _Optional[str] = ..., outcomes: _Optional[_Iterable[_Union[_types_pb2.Outcome, _Mapping]]] = ..., l2: _Optional[float] = ..., horizon_days: _Optional[float] = ..., k: _Optional[int] = ...) -> None: ...

class CalibrateResponse(_message.Message):
    __slots__ = ("candidate_toml", "weights", "intercept", "calibration", "candidate_report", "current_report", "warnings")
    CANDIDATE_TOML_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    INTERCEPT_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_REPORT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_REPORT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    candidate_toml: str
    weights: _containers.RepeatedCompositeFieldContainer[FittedWeight]
    intercept: float
    calibration: ProbabilityCalibration
    candidate_report: BacktestReport
    current_report: BacktestReport
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, candidate_toml: _Optional[str] = ..., weights: _Optional[_Iterable[_Union[FittedWeight, _Mapping]]] = ..., intercept: _Optional[float] = ..., calibration: _Optional[_Union[ProbabilityCalibration, _Mapping]] = ..., candidate_report: _Optional[_Union[BacktestReport, _Mapping]] = ..., current_report: _Optional[_Union[BacktestReport, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class TierMove(_message.Message):
    __slots__ = ("entity_id", "from_tier", "to_tier")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_TIER_FIELD_NUMBER: _ClassVar[int]
    TO_TIER_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    from_tier: str
    to_tier: str
    def __init__(self, entity_id: _Optional[str] = ..., from_tier: _Optional[str] = ..., to_tier: _Optional[str] = ...) -> None: ...

class CompareProfilesRequest(_message.Message):
    __slots__ = ("profile", "candidate_toml", "candidate_profile", "candidate_shadow", "k", "page_size")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_TOML_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SHADOW_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    profile: str
    candidate_toml: str
    candidate_profile: str
    candidate_shadow: bool
    k: int
    page_size: int
    def __init__(self, profile: _Optional[str] = ..., candidate_toml: _Optional[str] = ..., candidate_profile: _Optional[str] = ..., candidate_shadow: _Optional[bool] = ..., k: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class CompareProfilesResponse(_message.Message):
    __slots__ = ("top_k_overlap", "rank_correlation", "tier_moves", "tier_moves_total", "entities")
    TOP_K_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    RANK_CORRELATION_FIELD_NUMBER: _ClassVar[int]
    TIER_MOVES_FIELD_NUMBER: _ClassVar[int]
    TIER_MOVES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    top_k_overlap: float
    rank_correlation: float
    tier_moves: _containers.RepeatedCompositeFieldContainer[TierMove]
    tier_moves_total: int
    entities: int
    def __init__(self, top_k_overlap: _Optional[float] = ..., rank_correlation: _Optional[float] = ..., tier_moves: _Optional[_Iterable[_Union[TierMove, _Mapping]]] = ..., tier_moves_total: _Optional[int] = ..., entities: _Optional[int] = ...) -> None: ...

class StageProfileRequest(_message.Message):
    __slots__ = ("toml", "filename")
    TOML_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    toml: str
    filename: str
    def __init__(self, toml: _Optional[str] = ..., filename: _Optional[str] = ...) -> None: ...

class StageProfileResponse(_message.Message):
    __slots__ = ("shadow", "entities_scored")
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_SCORED_FIELD_NUMBER: _ClassVar[int]
    shadow: ProfileSummary
    entities_scored: int
    def __init__(self, shadow: _Optional[_Union[ProfileSummary, _Mapping]] = ..., entities_scored: _Optional[int] = ...) -> None: ...

class PromoteProfileRequest(_message.Message):
    __slots__ = ("name", "shadow_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHADOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    shadow_version: int
    def __init__(self, name: _Optional[str] = ..., shadow_version: _Optional[int] = ...) -> None: ...

class PromoteProfileResponse(_message.Message):
    __slots__ = ("profile", "previous_version", "entities_scored", "tier_changes")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_SCORED_FIELD_NUMBER: _ClassVar[int]
    TIER_CHANGES_FIELD_NUMBER: _ClassVar[int]
    profile: ProfileSummary
    previous_version: int
    entities_scored: int
    tier_changes: int
    def __init__(self, profile: _Optional[_Union[ProfileSummary, _Mapping]] = ..., previous_version: _Optional[int] = ..., entities_scored: _Optional[int] = ..., tier_changes: _Optional[int] = ...) -> None: ...

class DeleteShadowProfileRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteShadowProfileResponse(_message.Message):
    __slots__ = ("deleted", "shadow_version")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SHADOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    shadow_version: int
    def __init__(self, deleted: _Optional[bool] = ..., shadow_version: _Optional[int] = ...) -> None: ...
