"""The engine's view of a scoring profile and of its inputs and outputs.

`prioscore.server.profiles.loading` parses and validates TOML into these types; the engine modules
(features, scoring, ranking, calibration) consume them. They are plain frozen dataclasses
and numpy arrays so the engine stays free of I/O, TOML and transport concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np

# The numeric event property a `density` signal divides by (clicks per page view, say).
DENSITY_PROPERTY = "clicks"
# Default of [scoring] refresh: stored scores are never older than this with no event.
DEFAULT_REFRESH_SECONDS = 300.0
SECONDS_PER_DAY = 86_400.0


class Aggregate(StrEnum):
    """How a signal folds an entity's matching events into one number."""

    COUNT = "count"  # number of matching events
    SUM = "sum"  # sum of event values
    DECAYED_COUNT = "decayed_count"  # sum of 0.5 ** (age_days / half_life_days)
    DECAYED_SUM = "decayed_sum"  # sum of value * 0.5 ** (age_days / half_life_days)
    WINDOW_COUNT = "window_count"  # matching events in the last window_days
    WINDOW_SUM = "window_sum"  # sum of values in the last window_days
    DAYS_SINCE_LAST = "days_since_last"  # recency: as_of - newest matching event, in days
    DAYS_SINCE_FIRST = "days_since_first"  # age: as_of - oldest matching event, in days
    DISTINCT_DAYS = "distinct_days"  # number of distinct UTC days with a matching event
    # (recent - prior) / (prior + 1), two consecutive windows of window_days; 0 while
    # recent + prior < min_volume (two visits against none are not a surge)
    TREND = "trend"
    EXISTS = "exists"  # 1.0 if any matching event, else 0.0
    DENSITY = "density"  # mean of value * clicks (behavioural density: time on page x clicks)
    # largest age / value: the share of a deadline gone, where each event's value is the
    # time it allows in days (an SLA target, at least a minute): 0.75 = three quarters
    # gone, > 1 = breached
    DEADLINE_ELAPSED = "deadline_elapsed"
    # Aggregates over other entities' current scores (signals with `scores = "<profile>"`):
    MAX = "max"  # largest related score
    MEAN = "mean"  # mean related score
    DISTINCT = "distinct"  # distinct values of the related entities' `by` attribute
    SCORE = "score"  # the one related entity's score (of = "account")


# Aggregates that need a parameter, so validation can name the missing key.
NEEDS_HALF_LIFE = frozenset({Aggregate.DECAYED_COUNT, Aggregate.DECAYED_SUM})
NEEDS_WINDOW = frozenset({Aggregate.WINDOW_COUNT, Aggregate.WINDOW_SUM, Aggregate.TREND})


class Relation(StrEnum):
    """Whose scores a score signal reads, relative to the scored entity."""

    ACCOUNT = "account"  # the entity's account (entities.account_id): one related entity
    MEMBERS = "members"  # the entities whose account is the scored entity (its contacts)


# Which aggregates a score signal may use, per relation; event aggregates are the rest.
RELATED_AGGREGATES: dict[Relation, frozenset[Aggregate]] = {
    Relation.ACCOUNT: frozenset({Aggregate.SCORE}),
    Relation.MEMBERS: frozenset(
        {Aggregate.SUM, Aggregate.MAX, Aggregate.MEAN, Aggregate.COUNT, Aggregate.DISTINCT}
    ),
}
SCORE_ONLY_AGGREGATES = frozenset(
    {Aggregate.MAX, Aggregate.MEAN, Aggregate.DISTINCT, Aggregate.SCORE}
)


class Direction(StrEnum):
    """What a higher score means, so a reader knows which end of a ranking to work."""

    HIGHER_IS_BETTER = "higher_is_better"  # hotter lead, readier renewal, more urgent ticket
    HIGHER_IS_RISKIER = "higher_is_riskier"  # churn risk: the top of the list is in danger


class Combine(StrEnum):
    """How engagement and fit make the priority score (w = fit_weight)."""

    BLEND = "blend"  # (1 - w) * engagement + w * fit
    # engagement * (1 - w + w * fit / 100): fit scales behaviour, so no fit lifts an
    # unengaged entity (engagement 0 scores 0) above an engaged one.
    MULTIPLY = "multiply"


class TierMode(StrEnum):
    ABSOLUTE = "absolute"  # thresholds are scores on the 0-100 scale
    QUANTILE = "quantile"  # thresholds are fractions 0-1 of the scored population
    GRID = "grid"  # fit grade x engagement level cells, e.g. "A1" (Tiers.grades/levels)


@dataclass(frozen=True)
class CategoryRule:
    """Marks events whose string `property` matches as belonging to category `name`.

    Rules are tried in profile order; an event takes the first category that matches.
    A rule matches when the property equals one of `equals`, starts with one of
    `prefixes`, or contains one of `contains`. An `eliminatory` category excludes every
    entity that has such an event from ranking (e.g. a visit to the careers page).
    """

    name: str
    property: str = "url"
    equals: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    eliminatory: bool = False


@dataclass(frozen=True)
class Signal:
    """One behaviour that earns (or, with a negative weight, costs) points.

    points = clip(weight * feature, -cap, cap); `match` narrows the events by string
    property (the key "category" matches the category assigned by CategoryRule);
    `missing` is the feature value of an entity with no matching event (for recency
    aggregates "never" is usually the worst case, not zero).
    """

    name: str
    event: str
    aggregate: Aggregate
    weight: float
    cap: float | None = None
    match: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    half_life_days: float | None = None
    window_days: float | None = None
    missing: float = 0.0
    description: str = ""
    scores: str = ""
    of: Relation | None = None
    min_score: float = 0.0
    by: str = ""
    per_day: int = 0
    once_per: str = ""
    min_volume: float = 0.0

    @property
    def thins_repeats(self) -> bool:
        """Repeats are thinned before folding: `per_day` keeps an entity's first N matching
        events per UTC day (ten opens in a minute count as N), `once_per` keeps only its
        first event per value of that string property (a download counts once per asset)."""
        return bool(self.per_day or self.once_per)

    @property
    def reads_scores(self) -> bool:
        """A score signal (`scores` names a profile) reads that profile's current scores
        of related entities instead of events: `of` says which entities, `min_score`
        keeps only those scoring at least that much ("engaged"), `by` is the attribute
        whose distinct values `distinct` counts (e.g. the roles of engaged contacts)."""
        return bool(self.scores)


@dataclass(frozen=True)
class NumericRange:
    """Fit points for a numeric attribute in [low, high); None means unbounded."""

    low: float | None
    high: float | None
    points: float


@dataclass(frozen=True)
class FitRule:
    """Fit (grade) points from one entity attribute: a categorical map or numeric ranges."""

    attribute: str
    points: Mapping[str, float] = field(default_factory=dict)
    ranges: tuple[NumericRange, ...] = ()


@dataclass(frozen=True)
class DisqualifyRule:
    """Excludes entities whose attribute is one of `values`, keeping `reason`."""

    attribute: str
    values: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True)
class ScopeRule:
    """The profile scores only entities whose attribute is one of `values` (a segment);
    the others are left unranked like disqualified ones, with `reason`."""

    attribute: str
    values: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True)
class Hysteresis:
    """When a stored tier may change (engine.tiers.hold_tiers), to cut alert noise.

    margin: points a score must clear a tier boundary by before the tier changes;
    min_days_in_tier: how long a tier is held before it may change at all. 0 = off.
    """

    margin: float = 0.0
    min_days_in_tier: float = 0.0


@dataclass(frozen=True)
class Tiers:
    """Named tiers in ascending order; thresholds[i] is where names[i] starts.

    Absolute mode: thresholds on the 0-100 score. Quantile mode: fractions of the scored
    population (0.75 = the top quarter starts here), i.e. heat quartiles.
    Grid mode (HubSpot's fit x engagement matrix, Pardot's grade beside the score): each
    entity gets a fit grade (grades: (name, fit threshold), lowest first) and an
    engagement level (levels, likewise on engagement); its tier is the cell grade + level,
    e.g. "A1". Cells ascend engagement first (names = grades within levels), so no grade
    lifts a less engaged entity into a higher tier; thresholds is empty.
    """

    mode: TierMode
    names: tuple[str, ...]
    thresholds: tuple[float, ...]
    grades: tuple[tuple[str, float], ...] = ()
    levels: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Profile:
    """A validated scoring profile.

    Normalisation: engagement = 100 * clip(sum(points), 0, max_points) / max_points;
    fit = 100 * clip(sum(fit points), 0, fit_max) / fit_max where fit_max is the sum of
    each fit rule's largest award; priority score by `combine` (Combine), engagement
    alone without fit rules. Entities outside `scope` are not ranked.

    Rollup: with `members` (an entity kind, e.g. "contact"), the events of the entities of
    that kind whose account is the scored entity count as the scored entity's own, so an
    account profile sees the whole company's behaviour.
    """

    name: str
    version: int
    entity: str
    signals: tuple[Signal, ...]
    tiers: Tiers
    max_points: float
    description: str = ""
    categories: tuple[CategoryRule, ...] = ()
    fit: tuple[FitRule, ...] = ()
    disqualify: tuple[DisqualifyRule, ...] = ()
    fit_weight: float = 0.0
    source: str = ""
    members: str = ""
    # How stale a stored score may get with no new event: the live core rescores every
    # stored entity of the profile at least this often (decay, windows, SLA age, silence).
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS
    direction: Direction = Direction.HIGHER_IS_BETTER
    combine: Combine = Combine.BLEND
    scope: tuple[ScopeRule, ...] = ()
    hysteresis: Hysteresis = field(default_factory=Hysteresis)

    @property
    def signal_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signals)

    @cached_property
    def event_types(self) -> frozenset[str]:
        """The event names the signals read (computed once: every stored read, every
        ingest batch and every rescoring asks)."""
        return frozenset(s.event for s in self.signals if not s.reads_scores)

    @cached_property
    def reads_profiles(self) -> frozenset[str]:
        """Names of the profiles whose scores this profile's signals read."""
        return frozenset(s.scores for s in self.signals if s.reads_scores)


@dataclass
class CategoricalColumn:
    """A string column stored as integer codes into a vocabulary (-1 = missing)."""

    codes: np.ndarray  # int32 [n]
    vocabulary: tuple[str, ...]


@dataclass
class EventColumns:
    """Events in columnar form, one row per event, in any order.

    entity: int64 index into the entity axis [0, n_entities); event_type: int32 code into
    event_types; ts: float64 seconds since the epoch; value: float64 (1.0 when the
    event carries none); strings: string properties (url, category inputs, ...);
    numbers: numeric properties (clicks, ...), NaN where absent.
    """

    entity: np.ndarray
    event_type: np.ndarray
    ts: np.ndarray
    value: np.ndarray
    event_types: tuple[str, ...]
    strings: dict[str, CategoricalColumn] = field(default_factory=dict)
    numbers: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.entity.shape[0])


@dataclass
class FeatureSet:
    """Output of engine.features: the matrix plus what eliminated whom.

    matrix: float64 [n_entities, n_signals] in profile.signals order; eliminated_by:
    int32 [n_entities], index into profile.categories of an eliminatory category the
    entity hit, or -1.
    """

    matrix: np.ndarray
    eliminated_by: np.ndarray


@dataclass
class ScoreResult:
    """Scores of n entities under one profile.

    tier: int32 index into profile.tiers.names, -1 for disqualified entities.
    disqualify_reason: object array of str, "" where not disqualified.
    contributions (explain only): float64 [n, n_signals + n_fit] points per column, in
    the order of `ScoreResult.columns`; reasons: int32 [n, k] column indices of the
    largest-magnitude contributions, largest first.
    """

    score: np.ndarray
    engagement: np.ndarray
    fit: np.ndarray
    tier: np.ndarray
    disqualified: np.ndarray
    disqualify_reason: np.ndarray
    columns: tuple[str, ...] = ()
    contributions: np.ndarray | None = None
    reasons: np.ndarray | None = None
