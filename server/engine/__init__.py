"""The pure numpy engine: profiles as data, events to features, features to scores,
tiers and reasons, related folds, calibration and backtest metrics. Imports numpy and the
standard library only.
"""

from prioscore.server.engine.backtest import (
    DISQUALIFIED,
    BacktestReport,
    Comparison,
    backtest,
    compare_rankings,
)
from prioscore.server.engine.calibration import (
    Calibration,
    LogisticFit,
    calibrate_profile,
    features_as_of_outcomes,
    fit_logistic,
)
from prioscore.server.engine.entries import MapEntries, map_entries
from prioscore.server.engine.features import compute_features
from prioscore.server.engine.fit import fit_award
from prioscore.server.engine.inputs import ProfileInputs, profile_inputs
from prioscore.server.engine.model import (
    DEFAULT_REFRESH_SECONDS,
    NEEDS_HALF_LIFE,
    NEEDS_WINDOW,
    RELATED_AGGREGATES,
    SCORE_ONLY_AGGREGATES,
    SECONDS_PER_DAY,
    Aggregate,
    CategoricalColumn,
    CategoryRule,
    Combine,
    Direction,
    DisqualifyRule,
    EventColumns,
    FeatureSet,
    FitRule,
    Hysteresis,
    NumericRange,
    Profile,
    Relation,
    ScopeRule,
    ScoreResult,
    Signal,
    TierMode,
    Tiers,
)
from prioscore.server.engine.population import Population
from prioscore.server.engine.ranking import top_k
from prioscore.server.engine.related import (
    RelatedScores,
    member_event_points,
    member_score_points,
    related_feature,
    top_members,
)
from prioscore.server.engine.scoring import AttributeColumns, assign_tiers, score
from prioscore.server.engine.slices import GIL_SLICE, fromiter_sliced
from prioscore.server.engine.tiers import hold_tiers

__all__ = [
    "DEFAULT_REFRESH_SECONDS",
    "DISQUALIFIED",
    "GIL_SLICE",
    "NEEDS_HALF_LIFE",
    "NEEDS_WINDOW",
    "RELATED_AGGREGATES",
    "SCORE_ONLY_AGGREGATES",
    "SECONDS_PER_DAY",
    "Aggregate",
    "AttributeColumns",
    "BacktestReport",
    "Calibration",
    "CategoricalColumn",
    "CategoryRule",
    "Combine",
    "Comparison",
    "Direction",
    "DisqualifyRule",
    "EventColumns",
    "FeatureSet",
    "FitRule",
    "Hysteresis",
    "LogisticFit",
    "MapEntries",
    "NumericRange",
    "Population",
    "Profile",
    "ProfileInputs",
    "RelatedScores",
    "Relation",
    "ScopeRule",
    "ScoreResult",
    "Signal",
    "TierMode",
    "Tiers",
    "assign_tiers",
    "backtest",
    "calibrate_profile",
    "compare_rankings",
    "compute_features",
    "features_as_of_outcomes",
    "fit_award",
    "fit_logistic",
    "fromiter_sliced",
    "hold_tiers",
    "map_entries",
    "member_event_points",
    "member_score_points",
    "profile_inputs",
    "related_feature",
    "score",
    "top_k",
    "top_members",
]
