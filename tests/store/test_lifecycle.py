from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from prioscore.server.errors import FailedPreconditionError
from prioscore.server.store.database import SCHEMA_VERSION, EntityRecord, EraseCounts, Store
from prioscore.server.store.schema import MIGRATIONS
from prioscore.server.store.shadow_tables import StoredShadow

from .builders import events, scores


def test_creates_parent_dirs_wal_and_schema_version(db_path: Path) -> None:
    assert not db_path.parent.exists()
    store = Store(db_path)
    try:
        assert db_path.exists()
        assert store.schema_version == SCHEMA_VERSION >= 1
        assert store.migrated_from == 0
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert set(store.db.table_names()) >= {
            "entities",
            "events",
            "scores",
            "score_history",
            "tier_changes",
        }
        indexes = {i.name for t in store.db.tables for i in t.indexes}
        assert {"events_entity_ts", "scores_rank", "entities_account"} <= indexes
    finally:
        store.close()
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        raw.close()


def test_reopen_keeps_data(db_path: Path) -> None:
    with Store(db_path) as store:
        store.insert_events(events([("m1", "a", "view", 1.0, 2.0, {"url": "/x"})]))
        store.upsert_entities([EntityRecord(id="a", kind="contact", attributes={"k": "v"})])
        store.write_scores("lead", 1, scores(["a"], [50.0], ["warm"]))
    with Store(db_path) as store:
        assert store.migrated_from == SCHEMA_VERSION
        assert store.insert_events(events([("m1", "a", "view", 1.0)])) == 0
        cols = store.load_events(["a"], ["view"], ["url"])
        assert cols.value.tolist() == [2.0]
        assert cols.strings["url"].vocabulary == ("/x",)
        assert store.get_entities(["a"])["a"].attributes == {"k": "v"}
        assert store.get_scores("lead", ["a"])["a"].tier == "warm"
        # no change -> no new tier change, the stored tier survived the reopen
        assert store.write_scores("lead", 1, scores(["a"], [50.0], ["warm"])) == []


def test_newer_schema_is_refused(db_path: Path) -> None:
    Store(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(FailedPreconditionError):
        Store(db_path)


def test_erase_removes_the_entity_and_nothing_else(store: Store) -> None:
    store.insert_events(
        events([("m1", "a", "view", 1.0), ("m2", "a", "click", 2.0), ("m3", "b", "view", 3.0)])
    )
    store.upsert_entities([EntityRecord(id="a"), EntityRecord(id="b")])
    store.write_scores("lead", 1, scores(["a", "b"], [80, 20], ["hot", "cold"]))
    store.write_scores("lead", 1, scores(["a", "b"], [30, 25], ["cold", "cold"], ts=2000.0))
    store.write_scores("churn", 1, scores(["a"], [5], ["low"]))
    before_b = (
        store.load_events(["b"], ["view"]).ts.tolist(),
        store.get_scores("lead", ["b"]),
        store.score_history("b", None, limit=10),
        [c for c in store.tier_changes_since(0) if c.entity_id == "b"],
        store.get_entities(["b"]),
    )
    last = store.last_tier_change_id()

    counts = store.erase_entity("a")
    assert counts == EraseCounts(events=2, scores=2, history=3, tier_changes=3, entities=1)
    assert counts.total == 11
    assert len(store.load_events(["a"], ["view", "click"])) == 0
    assert store.get_scores("lead", ["a"]) == {} and store.get_scores("churn", ["a"]) == {}
    assert store.score_history("a", None, limit=10) == []
    assert all(c.entity_id != "a" for c in store.tier_changes_since(0))
    assert store.get_entities(["a"]) == {}
    after_b = (
        store.load_events(["b"], ["view"]).ts.tolist(),
        store.get_scores("lead", ["b"]),
        store.score_history("b", None, limit=10),
        [c for c in store.tier_changes_since(0) if c.entity_id == "b"],
        store.get_entities(["b"]),
    )
    assert after_b == before_b
    assert store.erase_entity("a") == EraseCounts(0, 0, 0, 0, 0)
    # tier change ids are never reused after erasing the newest ones
    changes = store.write_scores("lead", 1, scores(["a"], [90], ["hot"]))
    assert changes[0].id == last + 1


def test_erase_inside_a_rolled_back_transaction_keeps_everything(store: Store) -> None:
    store.insert_events(events([("m1", "a", "view", 1.0)]))
    with pytest.raises(KeyError), store.transaction():
        assert store.erase_entity("a").events == 1
        raise KeyError("abort")
    assert store.count_events("a") == 1


def test_tier_changes_since_filters(store: Store) -> None:
    store.write_scores("lead", 1, scores(["a", "b"], [80, 20], ["hot", "cold"]))
    store.write_scores("churn", 1, scores(["a"], [5], ["low"]))
    all_ = store.tier_changes_since(0)
    assert [c.profile for c in all_] == ["lead", "lead", "churn"]
    assert store.tier_changes_since(all_[0].id, limit=1) == [all_[1]]
    assert store.tier_changes_since(0, profile="churn") == [all_[2]]
    assert store.last_tier_change_id() == all_[-1].id


def test_threads_share_one_store(store: Store) -> None:
    import threading

    def work(k: int) -> None:
        for j in range(20):
            with store.transaction():
                store.insert_events(events([(f"m{k}-{j}", f"e{k}", "view", float(j))]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_events() == 80


def test_a_version_1_database_migrates_to_shadow_profiles(db_path: Path) -> None:
    """A database written before shadow profiles (schema 1) keeps its data and gains
    the shadow_profiles table and the erase trigger."""
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path, isolation_level=None)
    MIGRATIONS[0](Database(raw))
    raw.execute("PRAGMA user_version = 1")
    raw.execute("INSERT INTO entities (id, kind) VALUES ('a', 'contact')")
    raw.close()
    with Store(db_path) as store:
        assert store.migrated_from == 1 and store.schema_version == SCHEMA_VERSION >= 2
        assert "shadow_profiles" in store.db.table_names()
        assert store.get_entities(["a"])["a"].kind == "contact"
        triggers = store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        )
        assert [t[0] for t in triggers] == [
            "entities_erase_shadow_scores",
            "scores_count_delete",
            "scores_count_insert",
            "scores_count_update",
        ]


def test_erase_removes_shadow_scores_too(store: Store) -> None:
    store.insert_events(events([("m1", "a", "view", 1.0), ("m2", "b", "view", 1.0)]))
    store.upsert_entities([EntityRecord(id="a"), EntityRecord(id="b")])
    store.save_shadow(StoredShadow("lead", "toml", "c.toml", 1.0))
    store.write_scores("lead", 1, scores(["a", "b"], [80, 20], ["hot", "cold"]))
    store.write_scores(
        "lead@shadow", 2, scores(["a", "b"], [90, 30], ["hot", "cold"]), track_changes=False
    )
    store.write_scores("other@shadow", 2, scores(["a"], [1], ["cold"]), track_changes=False)
    store.erase_entity("a")
    assert store.get_scores("lead@shadow", ["a", "b"]).keys() == {"b"}
    assert store.get_scores("lead", ["a"]) == {}
    # Rows under a key with no staged candidate (left by an older version) go as well.
    assert store.get_scores("other@shadow", ["a"]) == {}


def test_erase_removes_scores_whose_history_the_retention_purged(store: Store) -> None:
    # A score that stopped moving keeps its row while its last history point ages out of
    # the retention window: the row must go with the entity all the same.
    store.upsert_entities([EntityRecord(id="a"), EntityRecord(id="b")])
    store.write_scores("lead", 1, scores(["a", "b"], [80, 20], ["hot", "cold"], ts=1_000.0))
    store.write_scores("churn", 1, scores(["a"], [5], ["low"], ts=1_000.0))
    store.write_scores("lead@shadow", 2, scores(["a"], [70], ["hot"]), track_changes=False)
    assert store.purge_before(5_000.0).history == 3
    assert store.score_history("a", None, limit=10) == []
    counts = store.erase_entity("a")
    assert counts.scores == 3 and counts.entities == 1
    for profile in ("lead", "churn", "lead@shadow"):
        assert store.get_scores(profile, ["a"]) == {}
    assert store.get_scores("lead", ["b"]).keys() == {"b"}


def test_a_merge_drops_the_merged_ids_scores_whose_history_the_retention_purged(
    store: Store,
) -> None:
    store.upsert_entities([EntityRecord(id="anon"), EntityRecord(id="known")])
    store.write_scores("lead", 1, scores(["anon", "known"], [80, 20], ["hot", "cold"], ts=1.0))
    store.purge_before(5_000.0)
    store.merge_identities([("anon", "known")], 6_000.0)
    assert store.get_scores("lead", ["anon", "known"]).keys() == {"known"}
