"""Score tables of the store: upserts with history and tier changes.

Ranking, counts, history and tier-change reads are store.score_queries; shadow
candidates and a promotion's moves of shadow rows are store.shadow_tables.

A mixin of Store: it uses the connection, lock and transaction joining that Store owns.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np

from prioscore.server.engine import GIL_SLICE
from prioscore.server.store.entity_mirror import EntityMirror
from prioscore.server.store.records import (
    Cause,
    ScoreRows,
    TierChangeRecord,
)
from prioscore.server.store.score_mirror import Previous, ScoreMirror
from prioscore.server.store.slots import SlotIds, SlotTable, taken
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


def _filled(n: int, value: str) -> np.ndarray:
    """np.full(n, value, dtype=object), without np.full's cast per element of a 0-d
    object array (2 ms at a sweep chunk's 50k rows, where a fill takes 0.1 ms)."""
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out


# The upsert of a score row (write_scores, ShadowTables.promote_chunk): `history_ts` KEEP_HISTORY_TS
# keeps the stored one.
UPSERT_ON_CONFLICT = (
    " ON CONFLICT (profile, entity_id) DO UPDATE SET"
    " profile_version = excluded.profile_version, score = excluded.score,"
    " engagement = excluded.engagement, fit = excluded.fit, tier = excluded.tier,"
    " disqualified = excluded.disqualified, reasons = excluded.reasons,"
    " updated = excluded.updated, history_ts = CASE WHEN excluded.history_ts"
    f" = {KEEP_HISTORY_TS} THEN history_ts ELSE excluded.history_ts END"
)


def delete_scores_of(conn: sqlite3.Connection, entity_id: str) -> int:
    """Deletes the entity's score rows under every profile key, active or shadow; how
    many. Found by the primary key: score_counts (kept by triggers) names every profile
    that has rows. Not by its history, which need not exist: a retention purge takes the
    last point of a score that stopped moving while the score stays, and shadow rows
    keep none."""
    return conn.execute(
        "DELETE FROM scores WHERE entity_id = ? AND profile IN"
        " (SELECT DISTINCT profile FROM score_counts WHERE n > 0)",
        (entity_id,),
    ).rowcount


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
        # A sweep's ids are slots (SlotIds): strings are made for the rows written only.
        ids: Sequence[str] | np.ndarray = rows.entity_id
        if not isinstance(ids, SlotIds):
            ids = np.array(ids, dtype=object)
        score = np.asarray(rows.score, dtype=np.float64)
        tier = np.array(rows.tier, dtype=object)
        reasons = _filled(n, "[]")
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
            causes = _filled(n, cause_message_id)
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
                    profile, version, rows, everyone, score, tier, None, reasons, ts, keep
                )
                return []
            before = self._previous_scores(profile, rows.entity_id)
            prev_score, prev_code, prev_version = before.score, before.tier, before.version
            history_ts, has_prev = before.history_ts, before.has
            mirror = self._mirror
            code: np.ndarray | None = None  # tier codes by position, where known
            if hold is not None and has_prev.any():  # on codes: one take, not `==` per tier
                code = held_tiers(
                    self.conn, hold, profile, rows.entity_id, score, mirror.tier_codes(tier),
                    prev_code, ts, mirror,
                )  # fmt: skip
                tier, tier_changed = mirror.tier_names(code), prev_code != code
            else:  # one pass over the names costs less than coding them (a dict look-up each)
                tier_changed = mirror.tier_names(prev_code) != tier
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
            self._upsert_scores(
                profile, version, rows, written, score, tier, code, reasons, ts, kept
            )
            history_ids = taken(ids, history)
            self._mirror.kept_history(profile, history_ids, ts)
            if len(history):
                self.conn.executemany(
                    "INSERT INTO score_history (entity_id, profile, profile_version, ts, score,"
                    " tier, reasons, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    zip(
                        history_ids,
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
            c_ids = list(taken(ids, changed))
            c_prev_tier = mirror.tier_names(prev_code[changed]).tolist()
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
        code: np.ndarray | None,
        reasons: np.ndarray,
        ts: float,
        history_ts: np.ndarray,
    ) -> None:
        """Upserts rows `at` (positions into `rows`), and into the mirror; `code`, `tier`
        and `history_ts` by position: `code` the tiers' codes where the caller has them
        (a hold decides on codes: coding its names again was a dict look-up per row),
        else None; `history_ts` the time of the history point kept now, or
        KEEP_HISTORY_TS."""
        if not len(at):
            return
        disqualified = np.asarray(rows.disqualified, dtype=bool)[at]
        written_ids = taken(rows.entity_id, at)
        mirror = self._mirror
        if mirror.loaded(profile):  # a shadow's rows may not be mirrored: nothing to code
            codes = mirror.tier_codes(tier[at]) if code is None else code[at]
            mirror.write(profile, written_ids, score[at], codes, int(version), disqualified)
        self.conn.executemany(
            "INSERT INTO scores (entity_id, profile, profile_version, score, engagement,"
            " fit, tier, disqualified, reasons, updated, history_ts)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?){UPSERT_ON_CONFLICT}",
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
        """Reads the profile's rows into the mirror unless it has them, GIL_SLICE rows
        per fetch (a fetch of all of them is one long C loop)."""
        if not self._mirror.loaded(profile):
            cursor = self.conn.execute(
                "SELECT entity_id, score, tier, profile_version, history_ts, disqualified"
                " FROM scores WHERE profile = ?",
                (profile,),
            )
            self._mirror.load(profile, iter(lambda: cursor.fetchmany(GIL_SLICE), []))
