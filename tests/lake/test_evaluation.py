"""Backtest and calibration over Parquet outcomes on the 2-worker cluster report what the
service's Backtest and Calibrate report for the same events and outcomes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from prioscore.server.engine import DISQUALIFIED, BacktestReport
from prioscore.server.lake import Executor, LakeInputError, main
from prioscore.server.lake.evaluation import Dataset, lake_backtest, lake_calibrate
from prioscore.server.profiles import ProfileRegistry, load_profile
from prioscore.v1 import profile_service_pb2 as profiles_pb
from tests.conftest import PROFILES
from tests.lake.conftest import Served

HORIZON = 7.0
K = 20


def _same_report(lake: BacktestReport, service: profiles_pb.BacktestReport) -> None:
    assert lake.entities == service.entities
    assert abs(lake.auc - service.auc) <= 1e-9
    assert abs(lake.precision_at_k - service.precision_at_k) <= 1e-9
    assert lake.k == service.k
    np.testing.assert_allclose(lake.lift_by_decile, list(service.lift_by_decile), atol=1e-9)
    # The wire lists the profile's tiers only; its positives count the disqualified too.
    every = [(t.tier, t.entities, t.positives) for t in lake.tiers]
    assert sum(t[2] for t in every) == service.positives
    tiers = [t for t in every if t[0] != DISQUALIFIED]
    assert tiers == [(t.tier, t.entities, t.positives) for t in service.tier_conversions]


@pytest.mark.slow
def test_backtest_and_calibrate_equal_the_service(
    served: Served, cluster: Executor, lake_profiles: Path
) -> None:
    profile = ProfileRegistry.from_directory(lake_profiles).get("lead_qualification")
    assert profile is not None
    data = Dataset(served.lake / "events", served.lake / "entities", served.lake / "outcomes")
    lake = lake_backtest(profile, data, cluster, horizon_days=HORIZON, k=K)
    service = served.client.backtest(
        served.outcomes, profile="lead_qualification", horizon_days=HORIZON, k=K
    ).report
    assert service.entities == 150 and 0.0 < service.auc < 1.0
    _same_report(lake, service)

    calibration, candidate, current = lake_calibrate(
        profile, data, cluster, horizon_days=HORIZON, l2=1.0, k=K
    )
    fitted = served.client.calibrate(
        "lead_qualification", served.outcomes, l2=1.0, horizon_days=HORIZON, k=K
    )
    # The fit sums the same rows in another order (partition order): equal to 1e-6.
    want = {w.name: w.weight for w in fitted.weights}
    got = {s.name: s.weight for s in calibration.candidate.signals}
    assert got.keys() == want.keys()
    assert max(abs(got[n] - want[n]) for n in got) <= 1e-6
    assert abs(calibration.score_slope - fitted.calibration.slope) <= 1e-6
    _same_report(current, fitted.current_report)
    assert abs(candidate.auc - fitted.candidate_report.auc) <= 1e-6


def test_the_cli_writes_the_report_and_the_candidate(served: Served, tmp_path: Path) -> None:
    lake = served.lake
    common = ["--events", str(lake / "events"), "--entities", str(lake / "entities")]
    common += ["--outcomes", str(lake / "outcomes"), "--cluster", "inline"]
    common += ["--profiles", str(lake.parent / "profiles"), "--horizon-days", "7"]
    result = CliRunner().invoke(main, ["backtest", "lead_qualification", *common])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["profile"] == "lead_qualification" and report["entities"] == 150
    out = tmp_path / "candidate.toml"
    args = ["calibrate", "lead_qualification", *common, "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    bundled = load_profile(PROFILES / "lead_qualification.toml").version
    text = out.read_text()
    assert 'name = "lead_qualification"' in text and f"version = {bundled + 1}" in text
    assert set(json.loads(result.output)["weights"]) >= {"demo_request"}


def test_bad_outcomes_are_named(served: Served, cluster: Executor, lake_profiles: Path) -> None:
    profile = ProfileRegistry.from_directory(lake_profiles).get("lead_qualification")
    assert profile is not None
    part = next((served.lake / "outcomes").glob("*.parquet"))
    table = pq.read_table(part)
    labels = pa.array([2] * len(table), pa.int64())
    pq.write_table(table.set_column(1, "label", labels), part)
    data = Dataset(served.lake / "events", served.lake / "entities", served.lake / "outcomes")
    # Raised in a worker process, re-raised here with its problems intact.
    with pytest.raises(
        LakeInputError, match=re.escape(f"{part}: column 'label': values must be 0/1")
    ):
        lake_backtest(profile, data, cluster, horizon_days=0.0, k=0)
    with pytest.raises(LakeInputError, match=r"--horizon-days -1\.0"):
        lake_backtest(profile, data, cluster, horizon_days=-1.0, k=0)
