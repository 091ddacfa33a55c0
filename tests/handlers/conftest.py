"""Handlers without transport: Service and ProfileHandlers over a real SQLite file and
the bundled profiles, called directly (the rpc tests call the same code over gRPC)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from prioscore.server.clock import Clock
from prioscore.server.handlers import TRACK, Handlers, IncomingEvents, build_handlers
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.store import Store
from tests.conftest import PROFILES

NOW = 1_900_000_000.0
DAY = 86_400.0


def tracks(rows: list[tuple[str, str, float, dict[str, str]]], prefix: str = "m") -> IncomingEvents:
    """Track events from (entity, event, days before NOW, properties) rows."""
    n = len(rows)
    return IncomingEvents(
        message_id=[f"{prefix}-{i}" for i in range(n)],
        kind=[TRACK] * n,
        entity_id=[r[0] for r in rows],
        event=[r[1] for r in rows],
        ts=np.array([NOW - r[2] * DAY for r in rows]),
        value=np.full(n, np.nan),
        properties=[r[3] for r in rows],
        metrics=[{} for _ in rows],
        traits=[{} for _ in rows],
        numeric_traits=[{} for _ in rows],
        account_id=[""] * n,
        entity_kind=["contact"] * n,
    )


@pytest.fixture
def handlers(tmp_path: Path) -> Iterator[Handlers]:
    clock = Clock()
    clock.set(NOW)
    built = build_handlers(
        Store(tmp_path / "handlers.db"),
        ProfileRegistry.from_directory(PROFILES),
        clock=clock,
    )
    yield built
    built.close()
