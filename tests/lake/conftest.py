"""A real dask.distributed LocalCluster (2 worker processes on 127.0.0.1) shared by the
lake tests, and a server with the bundled profiles plus a rollup profile without score
signals (account_engagement reads lead_qualification's scores, which the lake refuses)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from prioscore.server.lake import Executor, executor
from tests.conftest import PROFILES

ROLLUP = """
[profile]
name = "account_rollup"
version = 3
entity = "account"
members = "contact"

[scoring]
max_points = 60

[[categories]]
name = "hot"
prefixes = ["/pricing", "/demo"]

[[signals]]
name = "hot_pages"
event = "page_view"
match = { category = "hot" }
aggregate = "decayed_count"
half_life_days = 10
weight = 6
cap = 30

[[signals]]
name = "active_days"
event = "page_view"
aggregate = "distinct_days"
weight = 2
cap = 20

[[signals]]
name = "quiet"
event = "page_view"
aggregate = "days_since_last"
missing = 60
weight = -0.5
cap = 15

[tiers]
cold = 0
warm = 30
hot = 60
"""


@pytest.fixture(scope="session")
def cluster() -> Iterator[Executor]:
    with executor("local[2]") as running:
        assert running.workers == 2
        yield running


@pytest.fixture
def lake_profiles(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    shutil.copytree(PROFILES, folder)
    (folder / "account_rollup.toml").write_text(ROLLUP)
    return folder
