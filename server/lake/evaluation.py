"""`prioscore-lake backtest` / `calibrate`: the engine's evaluation over Parquet outcomes,
features computed in parallel on the cluster, the metrics and the fit on the driver.

The report is the one the service's Backtest and Calibrate return for the same events and
outcomes (tests/lake/test_evaluation.py), written as JSON so scripts can read it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from prioscore.server.engine import (
    BacktestReport,
    Calibration,
    Profile,
    backtest,
    calibrate_profile,
)
from prioscore.server.lake.cluster import Executor
from prioscore.server.lake.dataset import LakeInputError, check, discover
from prioscore.server.lake.outcomes import OutcomeJob, Stacked, outcome_features, stack

DEFAULT_K = 100  # as the service: k = 0 means 100


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Where a lake evaluation reads from."""

    events: Path
    entities: Path | None
    outcomes: Path


def point_in_time(
    profile: Profile, data: Dataset, executor: Executor, horizon_days: float
) -> Stacked:
    """Every partition's outcomes with their features as of outcome - horizon."""
    if not math.isfinite(horizon_days) or horizon_days < 0:
        raise LakeInputError([f"--horizon-days {horizon_days}: must be a finite number >= 0"])
    partitions = discover(data.events, data.entities, data.outcomes)
    check(partitions, (profile,), data.entities is not None)
    return stack(executor.map(outcome_features, OutcomeJob(profile, horizon_days), partitions))


def lake_backtest(
    profile: Profile, data: Dataset, executor: Executor, *, horizon_days: float, k: int
) -> BacktestReport:
    stacked = point_in_time(profile, data, executor, horizon_days)
    return backtest(profile, stacked.features, stacked.attributes, stacked.labels, k or DEFAULT_K)


def lake_calibrate(
    profile: Profile,
    data: Dataset,
    executor: Executor,
    *,
    horizon_days: float,
    l2: float,
    k: int,
) -> tuple[Calibration, BacktestReport, BacktestReport]:
    """The fitted candidate, and the candidate's and the current profile's backtests."""
    if not math.isfinite(l2) or l2 <= 0:
        raise LakeInputError([f"--l2 {l2}: must be a finite number > 0"])
    stacked = point_in_time(profile, data, executor, horizon_days)
    positives = int(stacked.labels.sum())
    if positives in (0, stacked.labels.size):
        raise LakeInputError(["--outcomes: calibration needs both positive and negative labels"])
    calibration = calibrate_profile(profile, stacked.features, stacked.labels, l2=l2)
    k = k or DEFAULT_K
    features, attrs, y = stacked.features, stacked.attributes, stacked.labels
    return (
        calibration,
        backtest(calibration.candidate, features, attrs, y, k),
        backtest(profile, features, attrs, y, k),
    )


def report_json(report: BacktestReport) -> dict[str, Any]:
    """The report as plain JSON values (NaN as null)."""

    def plain(value: Any) -> Any:
        if isinstance(value, float):
            return None if math.isnan(value) else value
        return value

    return {
        "auc": plain(report.auc),
        "precision_at_k": plain(report.precision_at_k),
        "k": report.k,
        "lift_by_decile": [plain(float(x)) for x in report.lift_by_decile],
        "tiers": [{k: plain(v) for k, v in dataclasses.asdict(t).items()} for t in report.tiers],
        "base_rate": plain(report.base_rate),
        "entities": report.entities,
        "disqualified": report.disqualified,
    }


def dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


__all__ = ["Dataset", "dumps", "lake_backtest", "lake_calibrate", "point_in_time", "report_json"]
