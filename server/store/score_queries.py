"""Reads of the score tables: ranking (keyset on scores_rank), counts, the population
quantile tiers are cut on, stored scores, history pages and tier changes since a cursor.

A mixin of Store, beside ScoreTables (the writes): it uses the connection and lock Store
owns, and the score mirror when this store is the one that writes the scores.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from prioscore.server.engine import Population
from prioscore.server.store.records import HistoryPoint, StoredScore, TierChangeRecord, ids_json
from prioscore.server.store.score_mirror import ScoreMirror

# An account filter reads the account's members one by one up to this many (then the
# rows are sorted: O(members)); a larger account's rows are found walking scores_rank,
# where they are frequent enough for a page to come soon.
SMALL_ACCOUNT = 10_000


def counts_cover(account_id: str | None, min_score: float | None) -> bool:
    """Whether score_counts (schema v7: per profile, tier and disqualification) answers
    a count with these filters; an account or a score floor needs the rows."""
    return account_id is None and min_score is None


class ScoreQueries:
    """rank, count_scores, population, get_scores, score_history,
    tier_changes_since, last_tier_change_id."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        _lock: threading.RLock
        _mirror: ScoreMirror
        _committed_population: Callable[[str], np.ndarray | None]

    _SCORE_COLUMNS = (
        "s.entity_id, s.profile, s.profile_version, s.score, s.engagement, s.fit, s.tier,"
        " s.disqualified, s.reasons, s.updated, COALESCE(e.account_id, '')"
    )
    _ONE_SCORE = (
        f"SELECT {_SCORE_COLUMNS} FROM scores AS s LEFT JOIN entities AS e ON e.id = s.entity_id"
        " WHERE s.profile = ? AND s.entity_id = ?"
    )
    _SCORES = (
        f"SELECT {_SCORE_COLUMNS} FROM json_each(?) AS j"
        " CROSS JOIN scores AS s ON s.profile = ? AND s.entity_id = j.value"
        " LEFT JOIN entities AS e ON e.id = s.entity_id"
    )

    @staticmethod
    def _stored(r: tuple[Any, ...]) -> StoredScore:
        return StoredScore(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], r[10])

    @staticmethod
    def _score_filter(
        profile: str,
        tiers: Collection[str],
        account_id: str | None,
        min_score: float | None,
        include_disqualified: bool,
        need_entities: bool = True,
        by_members: bool = False,
    ) -> tuple[str, list[Any]]:
        """FROM and WHERE of the rows with these filters. `by_members` (with an
        account): driven from the account's members (entities_account), each one's score
        found by key, then sorted; else the scores_rank walk, testing each row's account,
        which read every row of the profile to fill a page of a small account (35 ms at
        200k contacts against 0.2 ms at 2k, bench S3r). CROSS JOIN keeps that order."""
        params: list[Any] = [profile]
        if by_members:
            sql = (
                " FROM entities AS e CROSS JOIN scores AS s"
                " ON s.profile = ? AND s.entity_id = e.id WHERE e.account_id = ?"
            )
            params.append(account_id)
        else:
            if account_id is not None:
                join = " JOIN entities AS e ON e.id = s.entity_id"
            elif need_entities:
                join = " LEFT JOIN entities AS e ON e.id = s.entity_id"
            else:
                join = ""
            sql = f" FROM scores AS s{join} WHERE s.profile = ?"
        if tiers:
            sql += " AND s.tier IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(set(tiers)), ensure_ascii=False))
        if account_id is not None and not by_members:
            sql += " AND e.account_id = ?"
            params.append(account_id)
        if min_score is not None:
            sql += " AND s.score >= ?"
            params.append(float(min_score))
        if not include_disqualified:
            sql += " AND s.disqualified = 0"
        return sql, params

    def rank(
        self,
        profile: str,
        *,
        limit: int,
        after: tuple[float, str] | None = None,
        tiers: Collection[str] = (),
        account_id: str | None = None,
        min_score: float | None = None,
        include_disqualified: bool = False,
    ) -> list[StoredScore]:
        """Scores of `profile`, best first (score DESC, entity_id ASC), keyset-paged:
        `after` is (score, entity_id) of the previous page's last row. Walks the
        scores_rank index, so a page costs O(limit) however deep it is; an account of
        at most SMALL_ACCOUNT members is read member by member instead (O(members))."""
        by_members = account_id is not None and self._members(account_id) <= SMALL_ACCOUNT
        where, params = self._score_filter(
            profile, tiers, account_id, min_score, include_disqualified, by_members=by_members
        )
        if after is not None:
            # The first term bounds the index range, the second breaks ties on entity_id.
            where += " AND s.score <= ? AND (s.score < ? OR s.entity_id > ?)"
            params += [float(after[0]), float(after[0]), after[1]]
        sql = f"SELECT {self._SCORE_COLUMNS}{where} ORDER BY s.score DESC, s.entity_id ASC LIMIT ?"
        params.append(max(int(limit), 0))
        with self._lock:
            return [self._stored(r) for r in self.conn.execute(sql, params)]

    def count_scores(
        self,
        profile: str,
        *,
        tiers: Collection[str] = (),
        account_id: str | None = None,
        min_score: float | None = None,
        include_disqualified: bool = False,
    ) -> int:
        """How many rows rank() would page through with the same filters: from the
        trigger-kept score_counts (O(tiers)) unless `counts_cover` says the filters need
        the rows themselves (then a COUNT over the matching index range)."""
        if counts_cover(account_id, min_score):
            sql = "SELECT COALESCE(SUM(n), 0) FROM score_counts WHERE profile = ?"
            params: list[Any] = [profile]
            if tiers:
                sql += " AND tier IN (SELECT value FROM json_each(?))"
                params.append(json.dumps(sorted(set(tiers)), ensure_ascii=False))
            if not include_disqualified:
                sql += " AND disqualified = 0"
        else:
            where, params = self._score_filter(
                profile, tiers, account_id, min_score, include_disqualified,
                need_entities=False, by_members=account_id is not None,
            )  # fmt: skip
            sql = f"SELECT COUNT(*){where}"
        with self._lock:
            return int(self.conn.execute(sql, params).fetchone()[0])

    def _members(self, account_id: str) -> int:
        """How many entities the account has (an entities_account index range)."""
        with self._lock:
            sql = "SELECT COUNT(*) FROM entities WHERE account_id = ?"
            return int(self.conn.execute(sql, (account_id,)).fetchone()[0])

    def population(self, profile: str, excluding: Sequence[str] = ()) -> Population:
        """Stored scores of the eligible (not disqualified) population of `profile`, less
        `excluding` (entities about to be rescored): quantile tiers are cut on these.

        The writer reads its mirror. A reader beside it takes the writer's population as
        of its last commit (Store.reader(); the excluded entities' own scores read here,
        so one commit apart at most) and falls back to reading every row only when the
        writer has published none for the profile (no quantile rescoring of it yet)."""
        with self._lock:
            if self._mirror.loaded(profile):  # this store writes the scores: it has them
                return self._mirror.population(profile, excluding)
        committed = self._committed_population(profile)
        if committed is not None:
            own = self.get_scores(profile, excluding).values() if excluding else ()
            return Population.without(
                committed, np.array([r.score for r in own if not r.disqualified])
            )
        with self._lock:
            rows = self.conn.execute(
                "SELECT score FROM scores WHERE profile = ? AND disqualified = 0"
                " AND entity_id NOT IN (SELECT value FROM json_each(?))",
                (profile, ids_json(excluding)),
            ).fetchall()
        return Population.of(np.fromiter((r[0] for r in rows), dtype=np.float64, count=len(rows)))

    def get_scores(self, profile: str, entity_ids: Sequence[str]) -> dict[str, StoredScore]:
        """Stored scores by entity id; unscored ids are absent. One id (a unary
        ScoreEntities, GetEntity) is looked up by its key: 10 us against 18 through
        json_each and the JSON text of the id."""
        if not entity_ids:
            return {}
        if len(entity_ids) == 1:
            sql, params = self._ONE_SCORE, (profile, entity_ids[0])
        else:
            sql, params = self._SCORES, (ids_json(entity_ids), profile)
        with self._lock:
            rows = self.conn.execute(sql, params).fetchall()
        return {r[0]: self._stored(r) for r in rows}

    def score_history(
        self,
        entity_id: str,
        profile: str | None = None,
        *,
        limit: int,
        before: tuple[float, int] | None = None,
    ) -> list[HistoryPoint]:
        """History points of one entity (one profile or all), newest first (ties by id);
        `before` = (ts, id) of the last point of the previous page keeps the points after it."""
        sql = (
            "SELECT entity_id, profile, profile_version, ts, score, tier, reasons, cause, rowid"
            " FROM score_history"
            " WHERE entity_id = ?"
        )
        params: list[Any] = [entity_id]
        if profile is not None:
            sql += " AND profile = ?"
            params.append(profile)
        if before is not None:
            sql += " AND (ts < ? OR (ts = ? AND rowid < ?))"
            params += [float(before[0]), float(before[0]), int(before[1])]
        sql += " ORDER BY ts DESC, rowid DESC LIMIT ?"
        params.append(max(int(limit), 0))
        with self._lock:
            return [HistoryPoint(*r) for r in self.conn.execute(sql, params)]

    def tier_changes_since(
        self,
        change_id: int,
        *,
        limit: int | None = None,
        profile: str | None = None,
        tiers: Collection[str] = (),
        account_id: str = "",
    ) -> list[TierChangeRecord]:
        """Tier changes with id > change_id, oldest first (a watch cursor), optionally
        only those under `profile`, into one of `tiers`, of entities of `account_id`."""
        sql = (
            "SELECT c.id, c.entity_id, c.profile, c.previous_tier, c.tier, c.previous_score,"
            " c.score, c.ts, c.cause_message_id, c.cause FROM tier_changes AS c"
        )
        params: list[Any] = []
        if account_id:
            sql += " JOIN entities AS e ON e.id = c.entity_id AND e.account_id = ?"
            params.append(account_id)
        sql += " WHERE c.id > ?"
        params.append(int(change_id))
        if profile is not None:
            sql += " AND c.profile = ?"
            params.append(profile)
        if tiers:
            sql += f" AND c.tier IN ({', '.join('?' * len(tiers))})"
            params += sorted(tiers)
        sql += " ORDER BY c.id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._lock:
            return [TierChangeRecord(*r) for r in self.conn.execute(sql, params)]

    def last_tier_change_id(self) -> int:
        """Cursor for "changes from now on" (0 when there never was one)."""
        with self._lock:
            row = self.conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'tier_changes'"
            ).fetchone()
        return int(row[0]) if row else 0


__all__ = ["ScoreQueries", "counts_cover"]
