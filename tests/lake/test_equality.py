"""The lake runner on a real 2-worker dask cluster gives the service's scores.

The same synthetic events go to a real gRPC server (one IngestEvents request, the clock
pinned at NOW, so every stored score, tier cut and reason is computed at NOW) and, as
Parquet partitions, to the lake runner with as_of = NOW. Score signals read the
profiles they name, computed in the same partition. Every entity's score,
engagement and fit agree within 1e-9, and tiers, disqualification, top reasons and top
contributors agree exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from prioscore.clients import PrioscoreClient
from prioscore.server.lake import Executor, score_lake
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.scoring import decode_contributors, decode_reasons
from prioscore.v1 import types_pb2
from tests.lake.conftest import NOW, SERVED, Served


def _service(client: PrioscoreClient, profile: str) -> dict[str, types_pb2.Score]:
    scores = client.rank(profile, include_disqualified=True, top_reasons=3)
    return {s.entity_id: s for s in scores}


@pytest.mark.slow
def test_lake_scores_equal_the_service(
    served: Served, cluster: Executor, lake_profiles: Path, tmp_path: Path
) -> None:
    client, lake = served.client, served.lake
    registry = ProfileRegistry.from_directory(lake_profiles)
    every = {p.name: p for p in registry.all()}
    for name in SERVED:
        out = tmp_path / f"out-{name}"
        profile = registry.get(name)
        assert profile is not None
        report = score_lake(
            profile, lake / "events", lake / "entities", NOW, out, cluster, profiles=every
        )
        assert report.workers == 2 and report.partitions == 3
        table = pq.read_table(out).sort_by("entity_id")
        service = _service(client, name)
        ids = table["entity_id"].to_pylist()
        assert ids == sorted(service), name
        assert len(ids) > 30, name  # the comparison is over a real population
        expected = [service[i] for i in ids]
        for column in ("score", "engagement", "fit"):
            got = table[column].to_numpy()
            want = np.array([getattr(s, column) for s in expected])
            assert np.max(np.abs(got - want)) <= 1e-9, (name, column)
        assert table["tier"].to_pylist() == [s.tier for s in expected], name
        assert table["disqualified"].to_pylist() == [s.disqualified for s in expected], name
        reasons = table["reasons"].to_pylist()
        # The wire names fit columns without the stored "fit:" prefix.
        got_reasons = [
            [(r.name.removeprefix("fit:"), r.points) for r in decode_reasons(t)] for t in reasons
        ]
        want_reasons = [[(r.name, r.points) for r in s.top_reasons] for s in expected]
        assert got_reasons == want_reasons, name
        got_members = [[(c.entity_id, c.points) for c in decode_contributors(t)] for t in reasons]
        want_members = [[(c.entity_id, c.points) for c in s.top_contributors] for s in expected]
        assert got_members == want_members, name
        assert set(table["profile_version"].to_pylist()) == {profile.version}
        assert table["updated"].to_pylist() == [NOW] * len(ids)
    tiers = pq.read_table(tmp_path / "out-saas_renewal")["tier"].to_pylist()
    assert len(set(tiers) - {""}) >= 3  # quantile cuts really split the population
    rolled = pq.read_table(tmp_path / "out-account_rollup")["reasons"].to_pylist()
    assert sum("\x1e" in t and not t.endswith("\x1e") for t in rolled) > 10  # contributors
    # Score signals really read the partition's related scores (not their missing value).
    engaged = pq.read_table(tmp_path / "out-account_engagement")["reasons"].to_pylist()
    assert sum("hottest_contact@" in t or "engaged_contacts@" in t for t in engaged) > 5
    triage = pq.read_table(tmp_path / "out-ticket_triage")["reasons"].to_pylist()
    assert sum("account_churn_risk@" in t for t in triage) >= 3  # 0 if read as missing
