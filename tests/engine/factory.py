"""Tiny hand-built inputs for the engine tests: events, signals and profiles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prioscore.server.engine.model import (
    Aggregate,
    CategoricalColumn,
    EventColumns,
    Profile,
    Signal,
    TierMode,
    Tiers,
)

DAY = 86_400.0
# Noon UTC, so events whole days apart fall on distinct UTC days and same-day events
# within +-12 h share one.
AS_OF = 19_675 * DAY + 12 * 3600.0


@dataclass(frozen=True)
class Ev:
    """One event written by hand; `age` is in days before AS_OF (negative = future)."""

    entity: int
    type: str
    age: float
    value: float = 1.0
    url: str | None = None
    clicks: float = float("nan")
    plan: str | None = None


def strings(values: Sequence[str | None]) -> CategoricalColumn:
    """Dictionary-encode a string column the way the store does (None -> code -1)."""
    vocabulary = tuple(sorted({v for v in values if v is not None}))
    index = {v: i for i, v in enumerate(vocabulary)}
    codes = np.array([-1 if v is None else index[v] for v in values], dtype=np.int32)
    return CategoricalColumn(codes=codes, vocabulary=vocabulary)


def events(rows: Sequence[Ev], types: Sequence[str] = ("page_view", "email_open")) -> EventColumns:
    """Columnar EventColumns from hand-written rows (types: the event_types vocabulary)."""
    return EventColumns(
        entity=np.array([r.entity for r in rows], dtype=np.int64),
        event_type=np.array([types.index(r.type) for r in rows], dtype=np.int32),
        ts=np.array([AS_OF - r.age * DAY for r in rows], dtype=np.float64),
        value=np.array([r.value for r in rows], dtype=np.float64),
        event_types=tuple(types),
        strings={"url": strings([r.url for r in rows]), "plan": strings([r.plan for r in rows])},
        numbers={"clicks": np.array([r.clicks for r in rows], dtype=np.float64)},
    )


def signal(
    aggregate: Aggregate | str,
    *,
    name: str | None = None,
    event: str = "page_view",
    weight: float = 1.0,
    **kwargs: object,
) -> Signal:
    """A Signal with test-friendly defaults (name defaults to the aggregate)."""
    agg = Aggregate(aggregate)
    return Signal(name=name or str(agg), event=event, aggregate=agg, weight=weight, **kwargs)  # type: ignore[arg-type]


TIERS = Tiers(mode=TierMode.ABSOLUTE, names=("cold", "warm", "hot"), thresholds=(0.0, 40.0, 70.0))


def profile(signals: Sequence[Signal], max_points: float = 100.0, **kwargs: object) -> Profile:
    """A Profile around `signals` with absolute cold/warm/hot tiers unless overridden."""
    fields: dict[str, object] = {"tiers": TIERS, **kwargs}
    return Profile(
        name="test",
        version=1,
        entity="contact",
        signals=tuple(signals),
        max_points=max_points,
        **fields,  # type: ignore[arg-type]
    )
