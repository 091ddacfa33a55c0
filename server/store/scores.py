"""Score tables of the store: upserts with history and tier changes, shadow rows.

Ranking, counts, history and tier-change reads are store.score_queries.

A mixin of Store: it uses the connection, lock and transaction joining that Store owns.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from prioscore.server.store.entity_mirror import EntityMirror
from prioscore.server.store.records import (
    Cause,
    ScoreRows,
    TierChangeRecord,
)
from prioscore.server.store.score_mirror import Previous, ScoreMirror
from prioscore.server.store.slots import SlotTable
from prioscore.server.store.tier_hold import TierHold, held_tiers

# History is appended only when the score moves by more than this (or the tier changes).
SCORE_EPSILON = 1e-9
# A clock rescoring writes a score row only when it moved by at least this much (scores
# are shown to one decimal), its tier changed or its profile version did.
CLOCK_WRITE_EPSILON = 0.01
# Time-driven drift keeps at most one history point per entity and profile per day (like
# a daily health-score snapshot); tier changes and event-caused moves always keep one.
HISTORY_INTERVAL = 86_400.0
# scores.history_ts written with a score row that keeps no history point: the stored time
# stays (a new row always keeps a point, except a shadow's, which keeps none: -1 there
# reads as "never", as the column's default 0 does).
KEEP_HISTORY_TS = -1.0

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


class ScoreTables:
    """scores, score_history, tier_changes and shadow_profiles."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        _lock: threading.RLock
        _mirror: ScoreMirror
        _entities: EntityMirror
        _slots: SlotTable

        def _write(self) -> AbstractContextManager[None]: ...

    # -- scores

    def write_scores(
        self,
        profile: str,
        version: int,
        rows: ScoreRows,
        cause_message_id: str | Sequence[str] = "",
        *,
        cause: Cause = Cause.EVENT,
        track_changes: bool = True,
        hold: TierHold | None = None,
        encode: Callable[[np.ndarray], Sequence[str]] | None = None,
    ) -> list[TierChangeRecord]:
        """Upsert the scores of `rows` under `profile`; append history and tier changes.

        `cause` says what rescored the rows, `cause_message_id` the event behind each
        row (one id for all, or one per row; meaningful for Cause.EVENT).

        Only what changed is written. A row is upserted where the score moved by more
        than SCORE_EPSILON, the tier or the profile version changed, or it is new; a
        clock rescoring (Cause.CLOCK) upserts only moves of at least CLOCK_WRITE_EPSILON
        (tiny decay is not worth a write; reads of the live snapshot are exact anyway).
        History: a point where the tier changed or the row is new; for other movement a
        point per rescoring, except under Cause.CLOCK, whose drift is sampled to one
        point per HISTORY_INTERVAL (a new profile version alone adds no point). Tier
        changes: one row where the stored tier differs; returned with their ids, in row
        order. Entity ids must be distinct within `rows`.

        `encode(positions)`, when given, makes the reasons of just the rows written (and
        rows.reasons is not read): encoding is the costly part of a row, and a clock
        sweep leaves most rows as they are.

        track_changes=False writes the scores only (no history, no tier changes, returns
        []): for shadow profiles ("<name>@shadow"), whose scores nobody watches.
        hold (the profile's [alerts], store.tier_hold) keeps an entity's stored tier where
        hysteresis says the change is noise.
        """
        n = len(rows.entity_id)
        if n == 0:
            return []
        ids = np.array(rows.entity_id, dtype=object)
        score = np.asarray(rows.score, dtype=np.float64)
        tier = np.array(rows.tier, dtype=object)
        reasons = np.full(n, "[]", dtype=object)
        if encode is None and len(rows.reasons):
            reasons = np.array(rows.reasons, dtype=object)
        if not (
            len(score)
            == len(rows.engagement)
            == len(rows.fit)
            == len(tier)
            == len(rows.disqualified)
            == len(reasons)
            == n
        ):
            raise ValueError("ScoreRows columns differ in length")
        if isinstance(cause_message_id, str):
            causes = np.full(n, cause_message_id, dtype=object)
        else:
            causes = np.array(cause_message_id, dtype=object)
            if len(causes) != n:
                raise ValueError("one cause_message_id per row, or one for all")
        ts = float(rows.ts)
        with self._write():
            everyone = np.arange(n)
            if not track_changes:
                if encode is not None:
                    reasons[:] = encode(everyone)
                keep = np.full(n, KEEP_HISTORY_TS)  # a shadow keeps no history
                self._upsert_scores(
                    profile, version, rows, everyone, score, tier, reasons, ts, keep
                )
                return []
            before = self._previous_scores(profile, rows.entity_id)
            prev_score, prev_tier, prev_version = before.score, before.tier, before.version
            history_ts, has_prev = before.history_ts, before.has
            if hold is not None and has_prev.any():
                tier = held_tiers(
                    self.conn, hold, profile, rows.entity_id, score, tier, prev_tier, ts
                )
            tier_changed = prev_tier != tier
            delta = np.abs(score - prev_score)
            fresh = ~has_prev | tier_changed
            if cause is Cause.CLOCK:
                moved = delta >= CLOCK_WRITE_EPSILON
                due = ts - history_ts >= HISTORY_INTERVAL
                history = np.flatnonzero(fresh | (moved & due))
            else:
                moved = delta > SCORE_EPSILON
                history = np.flatnonzero(fresh | moved)
            write = fresh | moved | (prev_version != int(version))
            written = np.flatnonzero(write)
            if encode is not None and len(written):
                reasons[written] = encode(written)  # history rows are among the written
            # The history time goes with the upsert (one statement, not an UPDATE after
            # it): KEEP_HISTORY_TS leaves the stored one where no point is kept.
            kept = np.full(n, KEEP_HISTORY_TS)
            kept[history] = ts
            self._upsert_scores(profile, version, rows, written, score, tier, reasons, ts, kept)
            self._mirror.kept_history(profile, ids[history].tolist(), ts)
            if len(history):
                self.conn.executemany(
                    "INSERT INTO score_history (entity_id, profile, profile_version, ts, score,"
                    " tier, reasons, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    zip(
                        ids[history].tolist(),
                        repeat(profile),
                        repeat(int(version)),
                        repeat(ts),
                        score[history].tolist(),
                        tier[history].tolist(),
                        reasons[history].tolist(),
                        repeat(cause.value),
                    ),
                )
            changed = np.flatnonzero(tier_changed)
            if not len(changed):
                return []
            c_ids = ids[changed].tolist()
            c_prev_tier = prev_tier[changed].tolist()
            c_tier = tier[changed].tolist()
            c_prev_score = prev_score[changed].tolist()
            c_score = score[changed].tolist()
            c_cause = causes[changed].tolist()
            self.conn.executemany(
                "INSERT INTO tier_changes (entity_id, profile, previous_tier, tier,"
                " previous_score, score, ts, cause_message_id, cause)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                zip(
                    c_ids,
                    repeat(profile),
                    c_prev_tier,
                    c_tier,
                    c_prev_score,
                    c_score,
                    repeat(ts),
                    c_cause,
                    repeat(cause.value),
                ),
            )
            # AUTOINCREMENT under the write lock: the ids of this executemany are contiguous.
            last = int(self.conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        first = last - len(changed) + 1
        return [
            TierChangeRecord(first + i, e, profile, pt, t, ps, s, ts, m, cause.value)
            for i, (e, pt, t, ps, s, m) in enumerate(
                zip(c_ids, c_prev_tier, c_tier, c_prev_score, c_score, c_cause, strict=True)
            )
        ]

    def _upsert_scores(
        self,
        profile: str,
        version: int,
        rows: ScoreRows,
        at: np.ndarray,
        score: np.ndarray,
        tier: np.ndarray,
        reasons: np.ndarray,
        ts: float,
        history_ts: np.ndarray,
    ) -> None:
        """Upserts rows `at` (positions into `rows`), and into the mirror; `history_ts`
        by position: the time of the history point kept now, or KEEP_HISTORY_TS."""
        if not len(at):
            return
        disqualified = np.asarray(rows.disqualified, dtype=bool)[at]
        written_ids = np.asarray(rows.entity_id, dtype=object)[at].tolist()
        self._mirror.write(profile, written_ids, score[at], tier[at], int(version), disqualified)
        self.conn.executemany(
            "INSERT INTO scores (entity_id, profile, profile_version, score, engagement,"
            " fit, tier, disqualified, reasons, updated, history_ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (profile, entity_id) DO UPDATE SET"
            " profile_version = excluded.profile_version, score = excluded.score,"
            " engagement = excluded.engagement, fit = excluded.fit, tier = excluded.tier,"
            " disqualified = excluded.disqualified, reasons = excluded.reasons,"
            " updated = excluded.updated, history_ts = CASE WHEN excluded.history_ts"
            f" = {KEEP_HISTORY_TS} THEN history_ts ELSE excluded.history_ts END",
            zip(
                written_ids,
                repeat(profile),
                repeat(int(version)),
                score[at].tolist(),
                np.asarray(rows.engagement, dtype=np.float64)[at].tolist(),
                np.asarray(rows.fit, dtype=np.float64)[at].tolist(),
                tier[at].tolist(),
                disqualified.astype(np.int64).tolist(),
                reasons[at].tolist(),
                repeat(ts),
                history_ts[at].tolist(),
            ),
        )

    @property
    def mirror_nbytes(self) -> int:
        """Bytes the in-memory copies of the written scores and of the entity rows hold
        (score_mirror.py, entity_mirror.py) with their shared slot table."""
        return self._mirror.nbytes + self._entities.nbytes + self._slots.nbytes

    def _previous_scores(self, profile: str, ids: Sequence[str]) -> Previous:
        """The stored values write_scores compares with, from the mirror (the profile's
        rows are read from SQLite once, on first use, under the write lock)."""
        self._load_mirror(profile)
        return self._mirror.previous(profile, ids)

    def _mirrored_scores(self, profile: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(present, score, disqualified) by slot from the mirror (lock held)."""
        self._load_mirror(profile)
        return self._mirror.columns(profile)

    def _load_mirror(self, profile: str) -> None:
        """Reads the profile's rows into the mirror unless it has them."""
        if not self._mirror.loaded(profile):
            self._mirror.load(
                profile,
                self.conn.execute(
                    "SELECT entity_id, score, tier, profile_version, history_ts, disqualified"
                    " FROM scores WHERE profile = ?",
                    (profile,),
                ).fetchall(),
            )

    def score_rows(self, profile: str, *, after: str | None = None, limit: int) -> ScoreRows:
        """Up to `limit` stored scores of `profile` as ScoreRows, by entity id, keyset-paged:
        `after` is the last entity id of the previous chunk. Rows keep their own update
        times in the table; `ts` of the result is 0 (set it before writing them again)."""
        sql = (
            "SELECT entity_id, score, engagement, fit, tier, disqualified, reasons FROM scores"
            " WHERE profile = ?"
        )
        params: list[Any] = [profile]
        if after is not None:
            sql += " AND entity_id > ?"
            params.append(after)
        sql += " ORDER BY entity_id LIMIT ?"
        params.append(max(int(limit), 0))
        with self._lock:
            rows = self.conn.execute(sql, params).fetchall()
        n = len(rows)
        if n == 0:
            empty = np.zeros(0)
            return ScoreRows([], empty, empty, empty, [], np.zeros(0, dtype=bool), [], 0.0)
        ids, score, engagement, fit, tier, disqualified, reasons = zip(*rows, strict=True)
        return ScoreRows(
            entity_id=list(ids),
            score=np.fromiter(score, dtype=np.float64, count=n),
            engagement=np.fromiter(engagement, dtype=np.float64, count=n),
            fit=np.fromiter(fit, dtype=np.float64, count=n),
            tier=list(tier),
            disqualified=np.fromiter(disqualified, dtype=np.int64, count=n).astype(bool),
            reasons=list(reasons),
            ts=0.0,
        )

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
