"""score_counts (schema v7): trigger-kept counts that answer RankEntities' total_size."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from prioscore.server.store.database import EntityRecord, Store
from prioscore.server.store.schema import MIGRATIONS

from .builders import scores

GROUPED = (
    "SELECT profile, tier, disqualified, COUNT(*) FROM scores"
    " GROUP BY profile, tier, disqualified ORDER BY 1, 2, 3"
)
KEPT = "SELECT profile, tier, disqualified, n FROM score_counts WHERE n > 0 ORDER BY 1, 2, 3"


def _kept_equals_counted(conn: sqlite3.Connection) -> None:
    assert conn.execute(KEPT).fetchall() == conn.execute(GROUPED).fetchall()


def test_counts_follow_inserts_tier_moves_disqualification_and_erasure(store: Store) -> None:
    ids = [f"e{i}" for i in range(6)]
    store.upsert_entities([EntityRecord(id=e) for e in ids])
    store.write_scores(
        "lead", 1, scores(ids, [90, 80, 50, 40, 10, 5], ["hot"] * 2 + ["warm"] * 2 + ["cold"] * 2)
    )
    _kept_equals_counted(store.conn)
    assert store.count_scores("lead", tiers=["hot", "warm"]) == 4
    # e0 cools, e1 is disqualified, e5 only moves (no tier change: the update trigger skips it)
    store.write_scores(
        "lead",
        1,
        scores(
            ["e0", "e1", "e5"],
            [20, 0, 6],
            ["cold", "", "cold"],
            ts=2000.0,
            disqualified=[False, True, False],
        ),
    )
    _kept_equals_counted(store.conn)
    assert store.count_scores("lead") == 5
    assert store.count_scores("lead", include_disqualified=True) == 6
    assert store.count_scores("lead", tiers=["cold"]) == 3
    store.erase_identity("e2")
    _kept_equals_counted(store.conn)
    assert store.count_scores("lead", tiers=["warm"]) == 1
    assert store.count_scores("nobody") == 0


def test_a_rolled_back_write_leaves_the_counts(store: Store) -> None:
    store.write_scores("lead", 1, scores(["a"], [90.0], ["hot"]))
    with pytest.raises(RuntimeError), store.transaction():
        store.write_scores("lead", 1, scores(["a", "b"], [10.0, 95.0], ["cold", "hot"]))
        raise RuntimeError("abort")
    _kept_equals_counted(store.conn)
    assert store.count_scores("lead", tiers=["hot"]) == 1


def test_migrating_a_v6_store_counts_its_existing_scores(tmp_path: Path) -> None:
    path = tmp_path / "v6.db"
    db = Database(str(path))
    for migration in MIGRATIONS[:6]:
        migration(db)
    db.execute("PRAGMA user_version = 6")
    rows = [
        {"entity_id": f"e{i}", "profile": "lead", "profile_version": 1, "score": float(i),
         "tier": "hot" if i > 5 else "cold", "disqualified": int(i == 0), "reasons": "[]"}
        for i in range(10)
    ]  # fmt: skip
    db["scores"].insert_all(rows)
    db.conn.commit()
    db.close()
    store = Store(path)
    try:
        _kept_equals_counted(store.conn)
        assert store.count_scores("lead") == 9
        assert store.count_scores("lead", tiers=["hot"]) == 4
    finally:
        store.close()
