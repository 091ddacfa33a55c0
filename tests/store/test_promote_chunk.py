"""A promotion's score move in SQL (Store.promote_chunk) writes exactly what write_scores
writes for the same rows: the same scores, history, tier changes (ids included), counts
and mirror, so PromoteProfile's outcome is the one it had when the rows went through
Python."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np

from prioscore.server.store import Cause, ScoreRows, TierChangeRecord
from prioscore.server.store.database import Store

from .builders import scores

TABLES = {
    "scores": "SELECT * FROM scores ORDER BY profile, entity_id",
    "score_history": "SELECT rowid, * FROM score_history ORDER BY rowid",
    "tier_changes": "SELECT * FROM tier_changes ORDER BY id",
    "score_counts": "SELECT * FROM score_counts ORDER BY profile, tier, disqualified",
}


def _populate(store: Store) -> list[str]:
    """Active rows of "lead" v1 and shadow rows (v2), with every case write_scores tells
    apart: new in the shadow, unchanged, moved by less than epsilon, moved, tier changed,
    disqualified, a history time to keep, and active rows the shadow has none of."""
    rng = np.random.default_rng(3)
    ids = [f"e{i:03d}" for i in range(60)]
    tiers = np.array(["hot", "warm", "cold", ""])
    active = [*ids[:50], "z-only-active"]
    base = np.round(rng.random(len(active)) * 100, 3)
    store.write_scores(
        "lead", 1,
        scores(active, base.tolist(), tiers[rng.integers(0, 4, len(active))].tolist(), ts=100.0),
    )  # fmt: skip
    # A later, clock-like drift keeps an older history time on some rows.
    store.write_scores("lead", 1, scores(active[:10], (base[:10] + 1).tolist(), ["hot"] * 10, 200))
    stored = store.get_scores("lead", ids[:50])
    shadow_score = [stored[e].score for e in ids[:50]] + (rng.random(10) * 100).tolist()
    shadow_tier = [stored[e].tier for e in ids[:50]] + tiers[rng.integers(0, 4, 10)].tolist()
    for i in range(10, 20):  # moved
        shadow_score[i] += 5
    for i in range(20, 25):  # moved by less than SCORE_EPSILON
        shadow_score[i] += 1e-12
    for i in range(25, 35):  # tier changed
        shadow_tier[i] = "hot" if shadow_tier[i] != "hot" else "cold"
    disqualified = [i % 7 == 0 for i in range(60)]
    store.write_scores(
        "lead@shadow", 2,
        scores(ids, shadow_score, shadow_tier, ts=300.0, disqualified=disqualified),
        track_changes=False,
    )  # fmt: skip
    return ids


def _shadow_rows(store: Store) -> ScoreRows:
    """The shadow's rows as the promotion read them before it moved them in SQL."""
    rows = store.conn.execute(
        "SELECT entity_id, score, engagement, fit, tier, disqualified, reasons FROM scores"
        " WHERE profile = 'lead@shadow' ORDER BY entity_id"
    ).fetchall()
    ids, score, engagement, fit, tier, disqualified, reasons = zip(*rows, strict=True)
    return ScoreRows(
        list(ids), np.array(score), np.array(engagement), np.array(fit), list(tier),
        np.array(disqualified, dtype=bool), list(reasons), 0.0,
    )  # fmt: skip


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(path)) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}


def test_promote_chunk_writes_what_write_scores_writes(tmp_path: Path) -> None:
    first, second = tmp_path / "python.db", tmp_path / "sql.db"
    store = Store(first)
    ids = _populate(store)
    store.close()
    shutil.copy(first, second)

    by_python = Store(first)
    with by_python.transaction():
        rows = _shadow_rows(by_python)
        rows = ScoreRows(*[getattr(rows, f) for f in ScoreRows.__dataclass_fields__][:-1], 400.0)
        expected = by_python.write_scores("lead", 2, rows, cause=Cause.PROMOTION)

    by_sql = Store(second)
    changes: list[TierChangeRecord] = []
    moved, after, chunks = 0, None, 0
    with by_sql.transaction():
        while True:
            chunk, n, after = by_sql.promote_chunk(
                "lead", 2, 400.0, Cause.PROMOTION, after=after, limit=7
            )
            if after is None:
                break
            changes, moved, chunks = changes + chunk, moved + n, chunks + 1
    assert (moved, chunks) == (60, 9)
    assert changes == expected and len(expected) > 10
    assert {c.cause for c in changes} == {Cause.PROMOTION.value}
    # The mirror, read again from SQLite, holds what write_scores left in memory.
    asked = [*ids, "z-only-active", "nobody"]
    mine, theirs = by_sql._previous_scores("lead", asked), by_python._previous_scores("lead", asked)
    for field in ("has", "score", "tier", "version", "history_ts"):
        np.testing.assert_array_equal(getattr(mine, field), getattr(theirs, field))
    assert set(mine.version.tolist()) == {-1, 1, 2}
    for store in (by_python, by_sql):
        store.close()
    tables = _tables(second)
    assert tables == _tables(first)
    points = [r for r in tables["score_history"] if r[4] == 400.0]
    assert 10 < len(points) < 60  # some rows kept a point, unchanged ones did not


def test_promote_chunk_of_no_shadow_moves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        store.write_scores("lead", 1, scores(["a"], [1.0], ["hot"]))
        assert store.promote_chunk("lead", 2, 5.0, Cause.PROMOTION, after=None, limit=3) == (
            [],
            0,
            None,
        )
        assert store.get_scores("lead", ["a"])["a"].profile_version == 1
    finally:
        store.close()
