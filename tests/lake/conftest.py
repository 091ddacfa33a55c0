"""A real dask.distributed LocalCluster (2 worker processes on 127.0.0.1) shared by the
lake tests, and a server with the bundled profiles plus a rollup profile without score
signals (account_engagement reads lead_qualification's scores, which the lake refuses)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from prioscore.clients import PrioscoreClient
from prioscore.clients.cli.synthetic import generate
from prioscore.server.lake import Executor, executor
from prioscore.v1 import types_pb2
from tests.conftest import PROFILES, ServerHandle
from tests.lake.lakedata import write_lake

NOW = 1_760_000_000.0
DAY = 86_400.0
SERVED = (
    "lead_qualification",
    "churn_risk",
    "saas_renewal",
    "account_rollup",
    "account_engagement",
    "ticket_triage",
)
COUNTS = {"contact": 150, "account": 40, "subscription": 60, "ticket": 60}

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


@dataclass
class Served:
    """A server that ingested the synthetic events (clock pinned at NOW), a client of it,
    the same events (and outcomes of every contact) as a lake dataset."""

    client: PrioscoreClient
    lake: Path
    outcomes: list[types_pb2.Outcome]


def contact_outcomes(events: list[types_pb2.Event]) -> list[types_pb2.Outcome]:
    """A label and an outcome time for every contact, in the last 30 days."""
    contacts = sorted({e.entity_id for e in events if e.entity_kind == "contact"})
    rng = np.random.default_rng(3)
    outcomes = []
    for entity_id, label, days in zip(
        contacts, rng.random(len(contacts)) < 0.3, rng.uniform(0, 30, len(contacts)), strict=True
    ):
        outcome = types_pb2.Outcome(entity_id=entity_id, label=bool(label))
        outcome.outcome_time.FromNanoseconds(int((NOW - days * DAY) * 1e9))
        outcomes.append(outcome)
    return outcomes


@pytest.fixture
def served(
    start_grpc_server: Callable[..., ServerHandle], lake_profiles: Path, tmp_path: Path
) -> Iterator[Served]:
    server = start_grpc_server(profiles_dir=lake_profiles)
    server.clock.set(NOW)
    with PrioscoreClient(server.target) as client:
        loaded = [client.get_profile(name) for name in SERVED]
        events = list(generate(loaded, COUNTS, seed=11, days=90, now=NOW - 3600))
        summary = client.ingest(events, batch_size=len(events))  # one batch: one tier cut
        assert summary.events_sent == len(events)
        outcomes = contact_outcomes(events)
        lake = write_lake(events, tmp_path / "lake", outcomes=outcomes)
        yield Served(client, lake, outcomes)
