"""Builders of store inputs for the tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from prioscore.server.store.database import EventBatch, ScoreRows


def events(rows: Sequence[tuple[Any, ...]]) -> EventBatch:
    """rows of (message_id, entity_id, event, ts[, value[, properties dict]])."""
    full = [(*r, *(None,) * (6 - len(r))) for r in rows]
    return EventBatch(
        message_id=[r[0] for r in full],
        entity_id=[r[1] for r in full],
        event=[r[2] for r in full],
        ts=np.array([r[3] for r in full], dtype=np.float64),
        value=np.array([np.nan if r[4] is None else r[4] for r in full], dtype=np.float64),
        properties=[json.dumps(r[5]) if r[5] is not None else None for r in full],
    )


def scores(
    ids: Sequence[str],
    score: Sequence[float],
    tier: Sequence[str],
    ts: float = 1000.0,
    disqualified: Sequence[bool] | None = None,
) -> ScoreRows:
    n = len(ids)
    return ScoreRows(
        entity_id=list(ids),
        score=np.array(score, dtype=np.float64),
        engagement=np.array(score, dtype=np.float64) / 2,
        fit=np.full(n, 10.0),
        tier=list(tier),
        disqualified=np.array(disqualified if disqualified is not None else [False] * n),
        reasons=[json.dumps([f"r-{i}"]) for i in ids],
        ts=ts,
    )
