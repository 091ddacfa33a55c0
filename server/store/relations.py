"""Queries over the account relation (entities.account_id), mixed into Store.

Account rollups and score signals need: an account's members, the accounts of changed
entities, the entities of changed accounts, and the stored scores of any of those. Each
is one statement over the entities_account index with the ids as one JSON parameter.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from prioscore.server.engine import RelatedScores
from prioscore.server.store.entity_mirror import EntityMirror
from prioscore.server.store.records import categorical, ids_json, json_path
from prioscore.server.store.slots import SlotIds


class RelatedRows:
    """Stored scores of related entities, one row per (owner position, related entity):
    the engine's RelatedScores, the related entities' ids (for explanations: an object
    array, or SlotIds from the writer's mirrors, made strings only when explained) and
    the codes of each requested string attribute (for `distinct ... by`)."""

    def __init__(self, rows: list[tuple[Any, ...]], by: Sequence[str] = ()) -> None:
        n = len(rows)

        # Columns by a C-level itemgetter map, as Store.load_events reads its rows.
        def column(i: int) -> Iterator[Any]:
            return map(itemgetter(i), rows)

        self.entity_id: np.ndarray | SlotIds = np.fromiter(column(1), dtype=object, count=n)
        self.scores = RelatedScores(
            owner=np.fromiter(column(0), dtype=np.int64, count=n),
            score=np.fromiter(column(2), dtype=np.float64, count=n),
            eligible=np.fromiter(column(3), dtype=np.int64, count=n) == 0,
        )
        self.by = {name: categorical(list(column(4 + i)), n).codes for i, name in enumerate(by)}

    @classmethod
    def from_columns(
        cls, entity_id: np.ndarray | SlotIds, scores: RelatedScores, by: dict[str, np.ndarray]
    ) -> RelatedRows:
        """The same rows from columns already in hand (the lake runner computes related
        scores in the partition instead of reading them from the scores table)."""
        rows = cls([])
        rows.entity_id, rows.scores, rows.by = entity_id, scores, by
        return rows

    def __len__(self) -> int:
        return len(self.entity_id)

    def for_attribute(self, by: str) -> RelatedScores:
        """The scores with `by` codes of one attribute ("" = none)."""
        return replace(self.scores, by=self.by[by]) if by else self.scores


class RelationQueries:
    """Members, accounts and related scores."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        _lock: threading.RLock
        _entities: EntityMirror

        def _write(self) -> AbstractContextManager[None]: ...

    def members_of(self, account_ids: Sequence[str], kind: str) -> tuple[list[str], np.ndarray]:
        """Entities of `kind` whose account is one of account_ids: (ids, owner positions)."""
        if not account_ids:
            return [], np.empty(0, dtype=np.int64)
        with self._lock:
            rows = self.conn.execute(
                "SELECT j.key, e.id FROM json_each(?) AS j"
                " CROSS JOIN entities AS e ON e.account_id = j.value WHERE e.kind = ?",
                (ids_json(account_ids), kind),
            ).fetchall()
        owner = np.fromiter(map(itemgetter(0), rows), dtype=np.int64, count=len(rows))
        return list(map(itemgetter(1), rows)), owner

    def accounts_of(self, ids: Sequence[str], kind: str | None = None) -> list[str]:
        """Distinct non-empty accounts of `ids` (only entities of `kind` when given)."""
        if not ids:
            return []
        sql = (
            "SELECT DISTINCT e.account_id FROM json_each(?) AS j"
            " CROSS JOIN entities AS e ON e.id = j.value WHERE e.account_id <> ''"
        )
        params: list[Any] = [ids_json(ids)]
        if kind is not None:
            sql += " AND e.kind = ?"
            params.append(kind)
        with self._lock:
            return sorted(r[0] for r in self.conn.execute(sql, params))

    def neighbours(self, ids: Sequence[str]) -> list[str]:
        """The accounts of `ids` and the entities whose account is one of `ids`: what an
        erase or an account move can change through rollups and score signals."""
        if not ids:
            return []
        with self._lock:
            rows = self.conn.execute(
                "SELECT e.account_id FROM json_each(?1) AS j"
                " CROSS JOIN entities AS e ON e.id = j.value WHERE e.account_id <> ''"
                " UNION SELECT e.id FROM json_each(?1) AS j"
                " CROSS JOIN entities AS e ON e.account_id = j.value",
                (ids_json(ids),),
            ).fetchall()
        return sorted(r[0] for r in rows)

    def entities_of_accounts(self, account_ids: Sequence[str], kind: str) -> list[str]:
        """Entities of `kind` belonging to any of account_ids (a ticket's account moved)."""
        ids, _ = self.members_of(account_ids, kind)
        return sorted(set(ids))

    def member_scores(
        self, profile: str, account_ids: Sequence[str], by: Sequence[str] = ()
    ) -> RelatedRows:
        """Stored `profile` scores of the entities whose account is account_ids[i] (owner i),
        with each member's string attributes named in `by`: one query for every signal
        that reads the same profile's member scores."""
        columns = "".join(", json_extract(e.attributes, ?)" for _ in by)
        params: list[Any] = [json_path(name) for name in by]
        params += [ids_json(account_ids), profile]
        with self._lock:
            rows = self.conn.execute(
                f"SELECT j.key, e.id, s.score, s.disqualified{columns} FROM json_each(?) AS j"
                " CROSS JOIN entities AS e ON e.account_id = j.value"
                " CROSS JOIN scores AS s ON s.profile = ? AND s.entity_id = e.id",
                params,
            ).fetchall()
        return RelatedRows(rows, by)

    def scores_of(self, profile: str, ids: Sequence[str]) -> RelatedRows:
        """Stored `profile` scores of ids[i] (owner i; "" or unscored ids give no row)."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT j.key, s.entity_id, s.score, s.disqualified FROM json_each(?) AS j"
                " CROSS JOIN scores AS s ON s.profile = ? AND s.entity_id = j.value",
                (ids_json(ids), profile),
            ).fetchall()
        return RelatedRows(rows)

    def account_scores(self, profile: str, ids: Sequence[str]) -> RelatedRows:
        """Stored `profile` scores of the account of each stored entity ids[i] (owner i)."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT j.key, s.entity_id, s.score, s.disqualified FROM json_each(?) AS j"
                " CROSS JOIN entities AS e ON e.id = j.value"
                " CROSS JOIN scores AS s ON s.profile = ? AND s.entity_id = e.account_id"
                " WHERE e.account_id <> ''",
                (ids_json(ids), profile),
            ).fetchall()
        return RelatedRows(rows)

    def claim_entities(self, ids: Sequence[str], kind: str, now: float) -> list[str]:
        """Make sure each id exists with `kind` and return those that have it: creates
        missing rows and gives rows of unknown kind this one (an account first seen as a
        contact's account_id); rows of another kind keep theirs and are left out."""
        if not ids:
            return []
        ids_param = ids_json(ids)
        with self._write():
            self.conn.execute(
                "INSERT INTO entities (id, kind, created, updated)"
                " SELECT value, ?, ?, ? FROM json_each(?) WHERE true"
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind WHERE kind = ''",
                (kind, now, now, ids_param),
            )
            self._entities.touch(ids)
            rows = self.conn.execute(
                "SELECT e.id FROM json_each(?) AS j CROSS JOIN entities AS e ON e.id = j.value"
                " WHERE e.kind = ?",
                (ids_param, kind),
            ).fetchall()
        return [r[0] for r in rows]
