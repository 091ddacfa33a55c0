"""Backtest and Calibrate: profiles against outcomes (CompareProfiles: comparison.py).

Transport-neutral like the Service, and in two steps. A job factory (backtest_job,
calibrate_job) resolves the request's profiles by name and checks its numbers where the
catalog lives; the job it returns is plain data (profiles, outcomes, numbers), so it
pickles, and its `run` does the heavy part over an EvaluationContext (a read connection,
its stored scorer, the limits) wherever it is sent: a process of its own when served
(evaluation_pool.py), this one when called directly. Both steps raise domain errors
naming the offending field. Features are
point-in-time: every entity's events are loaded whole, and
calibration.features_as_of_outcomes keeps only those at or before its own cutoff
(outcome_time - horizon_days), so nothing after the cutoff reaches a report or a fit.
Attributes (fit and disqualify rules) are not versioned in the store: they are read as
they are now.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from prioscore.server.config import Limits
from prioscore.server.engine import (
    AttributeColumns,
    BacktestReport,
    Calibration,
    Comparison,
    FeatureSet,
    Profile,
    ScoreResult,
    backtest,
    calibrate_profile,
    compare_rankings,
    features_as_of_outcomes,
    profile_inputs,
)
from prioscore.server.engine import score as score_entities
from prioscore.server.errors import InvalidArgumentError, NotFoundError, ProfileInvalidError
from prioscore.server.handlers.catalog import ProfileCatalog
from prioscore.server.profiles import (
    CandidateText,
    candidate_text,
    load_profile_text,
    profile_digest,
    profile_to_toml,
)
from prioscore.server.scoring import StoredScorer, load_events
from prioscore.server.store import Store

__all__ = [
    "DEFAULT_K",
    "DEFAULT_L2",
    "BacktestJob",
    "BacktestResult",
    "CalibrateJob",
    "CalibrateResult",
    "EvaluationContext",
    "EvaluationJob",
    "Outcomes",
    "Resolving",
    "Shadow",
    "backtest_job",
    "calibrate_job",
    "check_k",
    "evaluate",
    "ranked",
]

DEFAULT_K = 100
DEFAULT_L2 = 1.0
OUTCOME_CHUNK = 5_000  # outcomes' entities per loading step (_point_in_time)


T = TypeVar("T", covariant=True)


@dataclass(frozen=True, eq=False)
class Resolving:
    """What a job factory resolves a request against: profiles by name (shadows
    included) and the clock (CompareProfiles scores as of now)."""

    catalog: ProfileCatalog
    clock: Callable[[], float]


@dataclass(frozen=True, eq=False)
class EvaluationContext:
    """What a job reads: stored events and attributes on a read connection of the job's
    own, the stored scorer over it (CompareProfiles), the request limits. Read-only."""

    store: Store
    scorer: StoredScorer
    limits: Limits


class EvaluationJob(Protocol[T]):
    """A resolved evaluation: picklable data whose `run` does the store reads and the
    numpy work (in the evaluation process when served, evaluation_pool.py)."""

    def run(self, ctx: EvaluationContext) -> T: ...


def evaluate(reads: Store, limits: Limits, job: EvaluationJob[T]) -> T:
    """`job` over `reads`, a read-only connection of its own (see ProfileHandlers)."""
    return job.run(EvaluationContext(reads, StoredScorer(reads), limits))


@dataclass(frozen=True, eq=False)
class Outcomes:
    """Known outcomes: entity ids, 0/1 labels and outcome times (epoch s; NaN = missing)."""

    entity_ids: Sequence[str]
    labels: np.ndarray  # bool [n]
    times: np.ndarray  # float64 [n]

    def __len__(self) -> int:
        return len(self.entity_ids)


@dataclass(frozen=True, eq=False)
class Shadow:
    baseline: Profile
    comparison: Comparison


@dataclass(frozen=True, eq=False)
class BacktestResult:
    profile: Profile
    report: BacktestReport
    shadow: Shadow | None


@dataclass(frozen=True, eq=False)
class CalibrateResult:
    profile: Profile
    calibration: Calibration
    candidate_toml: str
    intercept_points: float
    candidate_report: BacktestReport
    current_report: BacktestReport
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class _PointInTime:
    features: FeatureSet
    attributes: AttributeColumns


def _check_outcomes(ctx: EvaluationContext, outcomes: Outcomes, field: str = "outcomes") -> None:
    n = len(outcomes)
    if n == 0:
        raise InvalidArgumentError.of(field, "required: at least one outcome")
    limit = ctx.limits.max_rows_per_batch
    if n > limit:
        raise InvalidArgumentError.of(field, f"{n} outcomes exceed the per-request limit {limit}")
    if np.shape(outcomes.labels) != (n,) or np.shape(outcomes.times) != (n,):
        raise InvalidArgumentError.of(field, "entity_ids, labels and times differ in length")
    seen: dict[str, int] = {}
    for i, entity_id in enumerate(outcomes.entity_ids):
        if not entity_id:
            raise InvalidArgumentError.of(f"{field}[{i}].entity_id", "must not be empty")
        if entity_id in seen:
            raise InvalidArgumentError.of(
                f"{field}[{i}].entity_id", f"{entity_id!r} repeats {field}[{seen[entity_id]}]"
            )
        seen[entity_id] = i
        if not math.isfinite(float(outcomes.times[i])):
            raise InvalidArgumentError.of(f"{field}[{i}].outcome_time", "required")
    known = ctx.store.get_entities(list(outcomes.entity_ids))
    for i, entity_id in enumerate(outcomes.entity_ids):
        if entity_id not in known:
            raise NotFoundError("entity", entity_id, f"{field}[{i}].entity_id")


def check_k(k: int) -> int:
    if k < 0:
        raise InvalidArgumentError.of("k", "must be >= 0 (0 means 100)")
    return k or DEFAULT_K


def _check_horizon(horizon_days: float) -> float:
    if not math.isfinite(horizon_days) or horizon_days < 0:
        raise InvalidArgumentError.of("horizon_days", "must be a finite number >= 0")
    return float(horizon_days)


def _point_in_time(
    ctx: EvaluationContext, profile: Profile, outcomes: Outcomes, horizon_days: float
) -> _PointInTime:
    """Point-in-time features of the outcomes' entities, OUTCOME_CHUNK entities at a
    time: one fetch of every outcome's events (200k for 20k contacts) ran GIL-holding C
    calls (the fetch's columns) for ~0.3 s at a stretch, in which the loop served
    nothing; each step bounds that (as CompareProfiles does, comparison.py)."""
    ids = list(outcomes.entity_ids)
    needs = profile_inputs(profile)
    times = np.asarray(outcomes.times, dtype=np.float64)
    parts = []
    for at in range(0, max(len(ids), 1), OUTCOME_CHUNK):
        step = ids[at : at + OUTCOME_CHUNK]
        # No `until`: each entity has its own cutoff, applied by features_as_of_outcomes.
        # Rollup profiles see their members' events, as when scoring; score signals read
        # their `missing` value (stored scores are current, not point-in-time).
        events, _ = load_events(ctx.store, profile, step, needs, until=None)
        cutoffs = times[at : at + OUTCOME_CHUNK]
        parts.append(features_as_of_outcomes(profile, events, len(step), cutoffs, horizon_days))
    features = parts[0]
    if len(parts) > 1:
        features = FeatureSet(
            np.vstack([f.matrix for f in parts]), np.concatenate([f.eliminated_by for f in parts])
        )
    attributes = ctx.store.attributes(ids, needs.categorical_attributes, needs.numeric_attributes)
    return _PointInTime(features, attributes)


def _ranking(profile: Profile, data: _PointInTime) -> tuple[np.ndarray, np.ndarray]:
    """Scores (disqualified at -inf, as the backtest ranks them) and tier names."""
    return ranked(profile, score_entities(profile, data.features, data.attributes))


def ranked(profile: Profile, result: ScoreResult) -> tuple[np.ndarray, np.ndarray]:
    """Scores with disqualified at -inf, and tier names ("" = disqualified).

    Tier indices of two profiles only compare by name, so names are returned.
    """
    disqualified = np.asarray(result.disqualified, dtype=bool)
    ranked = np.where(disqualified, -np.inf, np.asarray(result.score, dtype=np.float64))
    names = np.asarray((*profile.tiers.names, ""), dtype=object)[np.asarray(result.tier)]
    return ranked, names


def _labels(outcomes: Outcomes) -> np.ndarray:
    return np.asarray(outcomes.labels, dtype=bool).astype(np.float64)


@dataclass(frozen=True, eq=False)
class BacktestJob:
    """One profile against known outcomes, with a shadow baseline or none."""

    subject: Profile
    baseline: Profile | None
    outcomes: Outcomes
    k: int
    horizon_days: float

    def run(self, ctx: EvaluationContext) -> BacktestResult:
        outcomes, subject, horizon_days = self.outcomes, self.subject, self.horizon_days
        _check_outcomes(ctx, outcomes)
        y = _labels(outcomes)
        data = _point_in_time(ctx, subject, outcomes, horizon_days)
        report = backtest(subject, data.features, data.attributes, y, self.k)
        shadow = None
        if self.baseline is not None:
            base_data = _point_in_time(ctx, self.baseline, outcomes, horizon_days)
            score_a, names_a = _ranking(subject, data)
            score_b, names_b = _ranking(self.baseline, base_data)
            comparison = compare_rankings(score_a, score_b, names_a, names_b, self.k)
            shadow = Shadow(self.baseline, comparison)
        return BacktestResult(subject, report, shadow)


def backtest_job(
    resolving: Resolving,
    outcomes: Outcomes,
    *,
    profile_name: str = "",
    candidate_toml: str = "",
    k: int = 0,
    horizon_days: float = 0.0,
    shadow_profile: str = "",
) -> BacktestJob:
    """One profile (loaded by name, or candidate TOML) scored against known outcomes.

    Shadow comparison: against `shadow_profile`, or for a candidate the loaded profile of
    its name when there is one; none for a loaded profile without `shadow_profile`.
    """
    catalog = resolving.catalog
    if candidate_toml:
        # Raises ProfileInvalidError (INVALID_ARGUMENT) with file/line/key issues.
        subject = load_profile_text(candidate_toml, "<candidate>")
    elif profile_name:
        subject = catalog.get(profile_name, "profile")
    else:
        raise InvalidArgumentError.of("profile", "required: a profile name or candidate_toml")
    k = check_k(k)
    horizon_days = _check_horizon(horizon_days)
    baseline: Profile | None = None
    if shadow_profile:
        baseline = catalog.get(shadow_profile, "shadow_profile")
    elif candidate_toml:
        baseline = catalog.active(subject.name)
    return BacktestJob(subject, baseline, outcomes, k, horizon_days)


@dataclass(frozen=True, eq=False)
class CalibrateJob:
    """The loaded profile's weights fitted to outcomes; the candidate is returned, not
    loaded."""

    profile: Profile
    outcomes: Outcomes
    l2: float
    horizon_days: float
    k: int

    def run(self, ctx: EvaluationContext) -> CalibrateResult:
        profile, outcomes, k = self.profile, self.outcomes, self.k
        _check_outcomes(ctx, outcomes)
        y = _labels(outcomes)
        positives = int(y.sum())
        if positives == 0 or positives == y.size:
            raise InvalidArgumentError.of(
                "outcomes", "calibration needs both positive and negative labels"
            )
        data = _point_in_time(ctx, profile, outcomes, self.horizon_days)
        calibration = calibrate_profile(profile, data.features, y, l2=self.l2)
        # What the reviewer reads is what gets backtested: the rounded text, parsed back.
        reviewed = reviewable_candidate(profile, calibration.candidate)
        candidate = load_profile_text(reviewed.toml, "<candidate>")
        # The fitted logit intercept on the points scale the candidate's weights use.
        coef = calibration.fit.coef
        weights = np.array([s.weight for s in candidate.signals], dtype=np.float64)
        nonzero = np.flatnonzero(coef != 0)
        scale = float(weights[nonzero[0]] / coef[nonzero[0]]) if nonzero.size else 1.0
        # Same signals and events as the profile: the point-in-time features carry over.
        candidate_report = backtest(candidate, data.features, data.attributes, y, k)
        current_report = backtest(profile, data.features, data.attributes, y, k)
        return CalibrateResult(
            profile=profile,
            calibration=calibration,
            candidate_toml=reviewed.toml,
            warnings=reviewed.warnings,
            intercept_points=calibration.fit.intercept * scale,
            candidate_report=candidate_report,
            current_report=current_report,
        )


def calibrate_job(
    resolving: Resolving,
    outcomes: Outcomes,
    *,
    profile_name: str,
    l2: float = 0.0,
    horizon_days: float = 0.0,
    k: int = 0,
) -> CalibrateJob:
    """Calibrate of the loaded profile `profile_name` (l2 0 means DEFAULT_L2)."""
    profile = resolving.catalog.get(profile_name, "profile")
    if not math.isfinite(l2) or l2 < 0:
        raise InvalidArgumentError.of("l2", "must be a finite number >= 0 (0 means 1.0)")
    k = check_k(k)
    return CalibrateJob(profile, outcomes, l2 or DEFAULT_L2, _check_horizon(horizon_days), k)


def reviewable_candidate(active: Profile, candidate: Profile) -> CandidateText:
    """The candidate as the active file edited in place (comments kept, numbers rounded,
    sign flips and drops flagged); from the canonical TOML when the file is gone or no
    longer what is loaded (edited since the last reload)."""
    try:
        text = Path(active.source).read_text(encoding="utf-8")
        on_disk = load_profile_text(text, active.source)
    except (OSError, UnicodeDecodeError, ProfileInvalidError):
        on_disk = None
    if on_disk is None or profile_digest(on_disk) != profile_digest(active):
        text = profile_to_toml(active)
    return candidate_text(text, active, candidate)
