"""Shadow tables of the store: the candidates staged as shadows, and a promotion's move of
a shadow's rows into its profile's, a chunk at a time.

A mixin of Store, as scores.ScoreTables is: it uses the connection, the write lock and
the score mirror that Store owns, and score writes' rules (scores.py) for the rows moved.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import starmap
from typing import TYPE_CHECKING

from prioscore.server.engine import GIL_SLICE
from prioscore.server.store.records import Cause, TierChangeRecord
from prioscore.server.store.score_mirror import ScoreMirror
from prioscore.server.store.scores import KEEP_HISTORY_TS, SCORE_EPSILON, UPSERT_ON_CONFLICT

# A shadow profile's scores are stored under "<name>@shadow" (server/handlers/shadows.py); the
# schema's erase trigger (store_schema._v2) uses the same suffix.
SHADOW_SUFFIX = "@shadow"


@dataclass(frozen=True)
class StoredShadow:
    """A candidate staged as a profile's shadow, as persisted (table shadow_profiles)."""

    name: str
    toml: str
    filename: str
    staged: float


# A promotion's chunk: the first and last entity id and the count of the next `limit`
# rows of the shadow (after the last id of the one before).
_CHUNK_FIRST = (
    "SELECT min(entity_id), max(entity_id), count(*) FROM (SELECT entity_id FROM scores"
    " WHERE profile = ?1 ORDER BY entity_id LIMIT ?2)"
)
_CHUNK_AFTER = (
    "SELECT min(entity_id), max(entity_id), count(*) FROM (SELECT entity_id FROM scores"
    " WHERE profile = ?1 AND entity_id > ?2 ORDER BY entity_id LIMIT ?3)"
)
# The shadow's rows of the chunk (s) beside the profile's (a, NULL for a new row), and
# write_scores' rules over them: a history point where the row is new, its tier changed
# or its score moved; a tier change where the tier differs ("" for a new row); a write
# where any of those or the version differs. Rows in entity-id order, as write_scores
# gets them, so history and tier-change ids come out as they did.
_PAIRS = (
    " FROM scores AS s LEFT JOIN scores AS a ON a.profile = :profile"
    " AND a.entity_id = s.entity_id WHERE s.profile = :shadow"
    " AND s.entity_id BETWEEN :lo AND :hi"
)
_KEEPS_POINT = "(a.entity_id IS NULL OR a.tier IS NOT s.tier OR abs(s.score - a.score) > :epsilon)"
_MOVE_HISTORY = (
    "INSERT INTO score_history (entity_id, profile, profile_version, ts, score, tier,"
    " reasons, cause) SELECT s.entity_id, :profile, :version, :ts, s.score, s.tier,"
    f" s.reasons, :cause{_PAIRS} AND {_KEEPS_POINT} ORDER BY s.entity_id"
)
_MOVE_TIER_CHANGES = (
    "INSERT INTO tier_changes (entity_id, profile, previous_tier, tier, previous_score,"
    " score, ts, cause_message_id, cause) SELECT s.entity_id, :profile,"
    " coalesce(a.tier, ''), s.tier, coalesce(a.score, 0.0), s.score, :ts, '', :cause"
    f"{_PAIRS} AND coalesce(a.tier, '') IS NOT s.tier ORDER BY s.entity_id"
)
_MOVE_SCORES = (
    "INSERT INTO scores (entity_id, profile, profile_version, score, engagement, fit, tier,"
    " disqualified, reasons, updated, history_ts) SELECT s.entity_id, :profile, :version,"
    " s.score, s.engagement, s.fit, s.tier, s.disqualified <> 0, s.reasons, :ts,"
    f" CASE WHEN {_KEEPS_POINT} THEN :ts ELSE :keep END{_PAIRS}"
    f" AND ({_KEEPS_POINT} OR a.profile_version IS NOT :version) ORDER BY s.entity_id"
    f"{UPSERT_ON_CONFLICT}"
)


class ShadowTables:
    """shadow_profiles, and promotion chunks from a shadow's score rows."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        _lock: threading.RLock
        _mirror: ScoreMirror

        def _write(self) -> AbstractContextManager[None]: ...

    def promote_chunk(
        self, profile: str, version: int, ts: float, cause: Cause, *, after: str | None, limit: int
    ) -> tuple[list[TierChangeRecord], int, str | None]:
        """Writes the next `limit` rows of the shadow of `profile` (by entity id, after
        `after`) as the profile's scores at `ts`: what write_scores does with those rows
        (no hold, no encoder, cause not CLOCK), in three INSERT ... SELECT statements from
        the shadow's rows to the profile's, history and tier changes first (they compare
        with the rows the upsert replaces). Returns (tier changes, rows moved, last id of
        the chunk, None once no row is left); the caller's transaction deletes the shadow.

        Why SQL: each statement runs inside one sqlite3_step, which releases the GIL, so
        the serving loop runs on while 10k rows move; read back and bound as parameters,
        the same rows held it for ~100 ms per chunk at 200k contacts (bench S2 promote)."""
        shadow = profile + SHADOW_SUFFIX
        with self._write():
            bounds = self.conn.execute(
                _CHUNK_AFTER if after is not None else _CHUNK_FIRST,
                (shadow, limit) if after is None else (shadow, after, limit),
            ).fetchone()
            if bounds[2] == 0:
                return [], 0, None
            self._mirror.forget(profile)  # read again on its next use, a slice at a time
            params = {
                "profile": profile, "shadow": shadow, "lo": bounds[0], "hi": bounds[1],
                "version": int(version), "ts": float(ts), "cause": cause.value,
                "epsilon": SCORE_EPSILON, "keep": KEEP_HISTORY_TS,
            }  # fmt: skip
            last = self.conn.execute("SELECT coalesce(max(id), 0) FROM tier_changes").fetchone()
            self.conn.execute(_MOVE_HISTORY, params)
            self.conn.execute(_MOVE_TIER_CHANGES, params)
            self.conn.execute(_MOVE_SCORES, params)
            cursor = self.conn.execute(
                "SELECT id, entity_id, profile, previous_tier, tier, previous_score, score, ts,"
                " cause_message_id, cause FROM tier_changes WHERE id > ? ORDER BY id",
                last,
            )
            changes: list[TierChangeRecord] = []
            while part := cursor.fetchmany(GIL_SLICE):
                changes += starmap(TierChangeRecord, part)
        return changes, int(bounds[2]), str(bounds[1])

    # -- shadow profiles

    def save_shadow(self, shadow: StoredShadow) -> None:
        """Persists (or replaces) the candidate staged for shadow.name."""
        with self._write():
            self.conn.execute(
                "INSERT INTO shadow_profiles (name, toml, filename, staged) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET toml = excluded.toml,"
                " filename = excluded.filename, staged = excluded.staged",
                (shadow.name, shadow.toml, shadow.filename, float(shadow.staged)),
            )

    def shadows(self) -> list[StoredShadow]:
        """Every persisted shadow candidate, by name."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT name, toml, filename, staged FROM shadow_profiles ORDER BY name"
            ).fetchall()
        return [StoredShadow(*r) for r in rows]

    def delete_shadow(self, name: str) -> bool:
        """Forgets the candidate persisted for `name` and deletes its scores (under
        "<name>@shadow"), in one transaction; True when a candidate was persisted."""
        with self._write():
            self._mirror.forget(name + SHADOW_SUFFIX)  # no other profile's rows go
            self.conn.execute("DELETE FROM scores WHERE profile = ?", (name + SHADOW_SUFFIX,))
            cursor = self.conn.execute("DELETE FROM shadow_profiles WHERE name = ?", (name,))
            return cursor.rowcount > 0
