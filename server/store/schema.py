"""SQLite schema of the store and its migrations (PRAGMA user_version = schema version).

Each migration takes the sqlite-utils Database and brings the schema from version i to
i + 1; `migrate` runs the missing ones in one IMMEDIATE transaction (SQLite DDL is
transactional) and bumps user_version, so a crash mid-migration leaves the old version.
Add a migration by appending a function to MIGRATIONS; never edit a released one.

Choices measured with bench/store.py (500k events, random message ids, 10k entities):
- events is a rowid table: WITHOUT ROWID (clustered on message_id) was ~30% slower to
  insert and ~15% slower to load, because every secondary-index entry then carries the
  text key and rows land at random positions of the clustered tree.
- tier_changes uses AUTOINCREMENT so an id is never reused after erase_entity deletes the
  newest rows: watchers page with `id > cursor` and must not miss a change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sqlite_utils import Database
from sqlite_utils.db import DescIndex

from prioscore.server.errors import FailedPreconditionError


def _v1(db: Database) -> None:
    db.table("entities").create(
        {
            "id": str,
            "kind": str,
            "account_id": str,
            "attributes": str,  # JSON object of strings
            "numeric_attributes": str,  # JSON object of numbers
            "created": float,
            "updated": float,
        },
        pk="id",
        not_null=["kind", "account_id", "attributes", "numeric_attributes"],
        defaults={"kind": "", "account_id": "", "attributes": "{}", "numeric_attributes": "{}"},
    )
    db.table("entities").create_index(["account_id"], index_name="entities_account")

    db.table("events").create(
        {
            "message_id": str,
            "entity_id": str,
            "event": str,
            "ts": float,
            "value": float,  # NULL (a NaN was given) reads back as 1.0
            "properties": str,  # JSON object, string and numeric properties merged; or NULL
            "ingested": float,
        },
        pk="message_id",
        not_null=["entity_id", "event", "ts"],
    )
    db.table("events").create_index(["entity_id", "ts"], index_name="events_entity_ts")

    db.table("scores").create(
        {
            "entity_id": str,
            "profile": str,
            "profile_version": int,
            "score": float,
            "engagement": float,
            "fit": float,
            "tier": str,
            "disqualified": int,
            "reasons": str,  # JSON, as the service wrote it
            "updated": float,
        },
        pk=("profile", "entity_id"),
        not_null=["profile_version", "score", "tier", "disqualified", "reasons"],
        defaults={"tier": "", "disqualified": 0, "reasons": "[]"},
    )
    db.table("scores").create_index(
        ["profile", DescIndex("score"), "entity_id"], index_name="scores_rank"
    )

    db.table("score_history").create(
        {
            "entity_id": str,
            "profile": str,
            "profile_version": int,
            "ts": float,
            "score": float,
            "tier": str,
        },
        not_null=["entity_id", "profile", "ts", "score", "tier"],
    )
    db.table("score_history").create_index(
        ["entity_id", "profile", "ts"], index_name="score_history_entity"
    )

    # sqlite-utils cannot declare AUTOINCREMENT, hence the one hand-written table.
    db.execute(
        """
        CREATE TABLE tier_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            entity_id TEXT NOT NULL,
            profile TEXT NOT NULL,
            previous_tier TEXT NOT NULL,
            tier TEXT NOT NULL,
            previous_score REAL NOT NULL,
            score REAL NOT NULL,
            ts REAL NOT NULL,
            cause_message_id TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.table("tier_changes").create_index(["entity_id"], index_name="tier_changes_entity")


def _v2(db: Database) -> None:
    """Shadow profiles: candidates staged beside their active profile (server/handlers/shadows.py).

    A staged candidate's TOML is kept here so a restart restores it; its scores live in
    `scores` under the profile key "<name>@shadow" (no history, no tier changes). Those
    rows have no score_history, so erasing an entity would not find them by profile: a
    trigger deletes them with the entity row, in the eraser's transaction.
    """
    db.table("shadow_profiles").create(
        {
            "name": str,  # the profile's name (without "@shadow")
            "toml": str,  # the candidate as staged, comments and all
            "filename": str,  # named in its issues, e.g. "candidate.toml"
            "staged": float,  # epoch seconds
        },
        pk="name",
        not_null=["toml", "filename", "staged"],
    )
    db.execute(
        """
        CREATE TRIGGER entities_erase_shadow_scores AFTER DELETE ON entities
        BEGIN
            DELETE FROM scores WHERE entity_id = OLD.id
                AND profile IN (SELECT name || '@shadow' FROM shadow_profiles);
        END
        """
    )


def _v3(db: Database) -> None:
    """Causes and honest history (the live core).

    tier_changes.cause and score_history.cause say what caused a change or a point
    (records.Cause); score_history.reasons keeps the top reasons of each point, so "why
    did this score change?" has an answer; scores.history_ts is when the entity's last
    history point under the profile was written, so time-driven drift is sampled (at most
    one point per HISTORY_INTERVAL) instead of a point per clock sweep.
    """
    db.execute("ALTER TABLE tier_changes ADD COLUMN cause TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE score_history ADD COLUMN cause TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE score_history ADD COLUMN reasons TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE scores ADD COLUMN history_ts REAL NOT NULL DEFAULT 0")


def _v4(db: Database) -> None:
    """Suppression after erasure: ids erased stay refused until explicitly allowed again.

    Rows hold the SHA-256 of the id, not the id, so the suppression list does not keep
    the very value (often an e-mail address) the erasure removed; `dropped` counts the
    events and upserts refused for it since.
    """
    db.table("suppressed").create(
        {"digest": str, "since": float, "dropped": int},
        pk="digest",
        not_null=["since", "dropped"],
        defaults={"dropped": 0},
    )


def _v5(db: Database) -> None:
    """Identity merges (alias, identify of an anonymousId): merged_id's events now belong
    to into_id. Kept so late events sent under the merged id land on the known entity, a
    redelivered alias changes nothing, and erasing the identity reaches every merged id.
    into_id is always a root (merges are path-compressed), so resolving takes one lookup.
    """
    db.table("identity_merges").create(
        {"merged_id": str, "into_id": str, "ts": float},
        pk="merged_id",
        not_null=["into_id", "ts"],
    )
    db.table("identity_merges").create_index(["into_id"], index_name="identity_merges_into")


def _v6(db: Database) -> None:
    """Promotion intents (core/promotions.py): one row per profile, its latest promotion,
    written in the promoting transactions so a restart can finish or undo a promotion
    that a crash interrupted. `toml` and `previous_toml` are the whole files, so either
    version can always be written back to `source`."""
    db.table("promotions").create(
        {
            "name": str,  # the promoted profile
            "version": int,  # the version promoted
            "previous_version": int,
            "toml": str,  # the promoted file's text
            "previous_toml": str,  # the replaced file's text
            "source": str,  # the profile file
            "state": str,  # started -> scores_done -> complete
            "entities_scored": int,
            "tier_changes": int,  # counted once the readers are rescored
            "updated": float,
        },
        pk="name",
        not_null=["version", "previous_version", "toml", "previous_toml", "source", "state"],
        defaults={"entities_scored": 0, "tier_changes": 0, "updated": 0.0},
    )


def _v7(db: Database) -> None:
    """Counts of the scores table per (profile, tier, disqualified), kept by triggers.

    RankEntities answers total_size on every page; a COUNT(*) over a profile's rows is
    a scan of its whole index range (21x slower at 200k entities than at 2k, bench S3r).
    Triggers keep the counts in the writing statement itself, so every writer (upserts,
    erasure and shadow triggers, deletes, a rolled-back transaction) keeps them true
    without code of its own, and the readers' connection sees them as of its snapshot.
    The update trigger fires only when a row changes tier or disqualification.
    """
    db.execute(
        "CREATE TABLE score_counts (profile TEXT NOT NULL, tier TEXT NOT NULL,"
        " disqualified INTEGER NOT NULL, n INTEGER NOT NULL,"
        " PRIMARY KEY (profile, tier, disqualified)) WITHOUT ROWID"
    )
    db.execute(
        "INSERT INTO score_counts SELECT profile, tier, disqualified, COUNT(*) FROM scores"
        " GROUP BY profile, tier, disqualified"
    )
    add = (
        "INSERT INTO score_counts VALUES (NEW.profile, NEW.tier, NEW.disqualified, 1)"
        " ON CONFLICT DO UPDATE SET n = n + 1;"
    )
    remove = (
        "UPDATE score_counts SET n = n - 1 WHERE profile = OLD.profile AND tier = OLD.tier"
        " AND disqualified = OLD.disqualified;"
    )
    db.execute(f"CREATE TRIGGER scores_count_insert AFTER INSERT ON scores BEGIN {add} END")
    db.execute(f"CREATE TRIGGER scores_count_delete AFTER DELETE ON scores BEGIN {remove} END")
    db.execute(
        "CREATE TRIGGER scores_count_update AFTER UPDATE OF profile, tier, disqualified ON scores"
        " WHEN OLD.profile IS NOT NEW.profile OR OLD.tier IS NOT NEW.tier"
        f" OR OLD.disqualified IS NOT NEW.disqualified BEGIN {remove} {add} END"
    )


MIGRATIONS: tuple[Callable[[Database], None], ...] = (_v1, _v2, _v3, _v4, _v5, _v6, _v7)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: Database) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before migrating.

    The caller must not be inside a transaction. A database written by a newer prioscore
    (user_version > SCHEMA_VERSION) is refused rather than misread.
    """
    conn = db.conn
    found = schema_version(conn)
    if found == SCHEMA_VERSION:
        return found  # the common case takes no write lock (another writer may hold it)
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise FailedPreconditionError(
                f"database schema version {found} is newer than this prioscore "
                f"understands ({SCHEMA_VERSION})",
                reason="SCHEMA_TOO_NEW",
            )
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version](db)
        if found != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found
