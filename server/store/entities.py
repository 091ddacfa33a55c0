"""Entity rows of the store: upserts, bare rows for ingest, lookups, attribute columns, erase.

A mixin of Store: it uses the connection, lock and transaction joining that Store owns.
erase_entity lives here, though it deletes from every table, because an entity is what
it erases: its events, scores, history and tier changes go with the entity row.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from prioscore.server.engine import CategoricalColumn
from prioscore.server.store.attribute_sql import (
    attribute_sql,
    one_text,
)
from prioscore.server.store.entity_mirror import EntityMirror
from prioscore.server.store.records import (
    EntityRecord,
    EraseCounts,
    floats,
    ids_json,
    ordered,
    texts_to_codes,
)
from prioscore.server.store.score_mirror import ScoreMirror
from prioscore.server.store.scores import delete_scores_of


def id_digest(entity_id: str) -> str:
    """What the suppression list keeps of an erased id: its SHA-256, hex."""
    return hashlib.sha256(entity_id.encode()).hexdigest()


def _absent(
    cats: tuple[str, ...], nums: tuple[str, ...], n: int
) -> dict[str, np.ndarray | CategoricalColumn]:
    """The attribute columns of n ids without a row: codes -1, NaN."""
    out: dict[str, np.ndarray | CategoricalColumn] = {
        c: CategoricalColumn(np.full(n, -1, dtype=np.int32), ()) for c in cats
    }
    out.update({c: np.full(n, np.nan) for c in nums})
    return out


class EntityTables:
    """entities (kind, account, attributes) and the erasure of everything about one."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        _lock: threading.RLock
        _suppressed: int | None
        _truncate_wal_after_commit: bool
        _mirror: ScoreMirror
        _entities: EntityMirror

        def _write(self) -> AbstractContextManager[None]: ...

    def upsert_entities(self, entities: Sequence[EntityRecord]) -> int:
        """Insert or merge entity rows (see EntityRecord); returns how many distinct
        entities were created or updated. Repeated ids in one call merge in order."""
        if not entities:
            return 0
        now = time.time()
        rows = [
            (
                e.id,
                e.kind,
                e.account_id,
                json.dumps(dict(e.attributes), ensure_ascii=False) if e.attributes else "{}",
                json.dumps(
                    {k: float(v) for k, v in e.numeric_attributes.items()},
                    ensure_ascii=False,  # raw keys: JSON paths match the stored text
                    allow_nan=False,  # NaN is not JSON: json_patch would fail on it later
                )
                if e.numeric_attributes
                else "{}",
                e.created or now,
                e.updated or now,
            )
            for e in entities
        ]
        with self._write():
            self.conn.executemany(
                "INSERT INTO entities"
                " (id, kind, account_id, attributes, numeric_attributes, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET"
                " kind = CASE WHEN excluded.kind <> '' THEN excluded.kind ELSE kind END,"
                " account_id = CASE WHEN excluded.account_id <> ''"
                "   THEN excluded.account_id ELSE account_id END,"
                " attributes = json_patch(attributes, excluded.attributes),"
                " numeric_attributes = json_patch(numeric_attributes, excluded.numeric_attributes),"
                " updated = excluded.updated",
                rows,
            )
            self._entities.touch(r[0] for r in rows)
        return len({e.id for e in entities})

    def set_entity_kinds(self, ids: Sequence[str], kinds: Sequence[str], now: float) -> None:
        """Record the (non-empty) kind of each entity, creating bare rows where needed:
        what upsert_entities does for EntityRecord(id, kind, created=now, updated=now)
        with no account or attributes, in one statement (rows apply in order)."""
        if len(ids) != len(kinds):
            raise ValueError("set_entity_kinds: ids and kinds differ in length")
        if not ids:
            return
        # Only rows whose kind is new or differs are written (and read again by the
        # entity mirror): a steady stream of track events names the kind its entities
        # already have, and rewriting those rows was an UPDATE per event.
        with self._write():
            # Rows the mirror holds with that kind already are not sent (each was a
            # b-tree probe); only when ids are distinct, since rows apply in order.
            same = self._entities.of_kind(self.conn, ids, kinds)
            if same is not None and same.any() and len(set(ids)) == len(ids):
                keep = (~same).tolist()
                ids, kinds = list(compress(ids, keep)), list(compress(kinds, keep))
                if not ids:
                    return
            written = self.conn.execute(
                "INSERT INTO entities (id, kind, account_id, created, updated)"
                " SELECT j.value ->> 0, j.value ->> 1, '', ?, ? FROM json_each(?) AS j"
                " WHERE j.value ->> 1 <> '' ORDER BY j.key"
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, updated = excluded.updated"
                " WHERE kind IS NOT excluded.kind RETURNING id",
                (now, now, json.dumps(list(zip(ids, kinds, strict=True)), ensure_ascii=False)),
            ).fetchall()
            self._entities.touch(map(itemgetter(0), written))

    def ensure_entities(
        self, ids: Sequence[str], kind: str = "", account_id: str = "", now: float | None = None
    ) -> int:
        """Create bare rows for ids that have none (e.g. seen only in track events),
        created and updated at `now` (the caller's clock; the wall clock when None);
        returns how many were created. Existing rows are untouched."""
        if not ids:
            return 0
        now = time.time() if now is None else now
        with self._write():
            found = self._entities.existing(self.conn, ids)  # the mirror's, when built
            if found is not None:
                ids = list(compress(ids, (~found).tolist()))
                if not ids:
                    return 0
            created = self.conn.execute(
                "INSERT OR IGNORE INTO entities (id, kind, account_id, created, updated)"
                " SELECT value, ?, ?, ?, ? FROM json_each(?) RETURNING id",
                (kind, account_id, now, now, ids_json(ids)),
            ).fetchall()
            # Rows that existed are as they were; the new ones are what was just written.
            self._entities.created(list(map(itemgetter(0), created)), kind, account_id)
            return len(created)

    def entity_columns(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(kind, account_id) by id, without decoding attributes: the ingest hot path
        needs only these to pick profiles and route watch filters."""
        if not ids:
            return {}
        with self._lock:
            rows = self.conn.execute(
                "SELECT e.id, e.kind, e.account_id FROM entities AS e"
                " WHERE e.id IN (SELECT value FROM json_each(?))",
                (ids_json(ids),),
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def get_entities(self, ids: Sequence[str]) -> dict[str, EntityRecord]:
        """Entity rows by id; ids without a row are absent from the result."""
        if not ids:
            return {}
        with self._lock:
            rows = self.conn.execute(
                "SELECT e.id, e.kind, e.account_id, e.attributes, e.numeric_attributes,"
                " e.created, e.updated FROM entities AS e"
                " WHERE e.id IN (SELECT value FROM json_each(?))",
                (ids_json(ids),),
            ).fetchall()
        return {
            r[0]: EntityRecord(
                id=r[0],
                kind=r[1],
                account_id=r[2],
                attributes=json.loads(r[3]),
                numeric_attributes=json.loads(r[4]),
                created=r[5],
                updated=r[6],
            )
            for r in rows
        }

    def entity_ids(self, kind: str | None = None, account_id: str | None = None) -> list[str]:
        """Ids of entities (optionally of one kind / account), sorted."""
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if account_id is not None:
            where.append("account_id = ?")
            params.append(account_id)
        sql = "SELECT id FROM entities"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            return [r[0] for r in self.conn.execute(sql + " ORDER BY id", params)]

    def attributes(
        self,
        entity_ids: Sequence[str],
        categorical: Collection[str] = (),
        numeric: Collection[str] = (),
    ) -> dict[str, np.ndarray | CategoricalColumn]:
        """Attribute columns aligned to entity_ids, as engine.scoring.AttributeColumns:
        CategoricalColumn for categorical attributes (code -1 where missing or "", sorted
        vocabulary), float64 (NaN missing) for numeric. A
        categorical attribute only present among the numeric ones is read as its text
        ("3", "2.5"), so fit rules may key on either; a name asked for as both is
        returned numeric."""
        return self._attributes(entity_ids, categorical, numeric, with_rows=False)[1]

    def stored_attributes(
        self,
        entity_ids: Sequence[str],
        categorical: Collection[str] = (),
        numeric: Collection[str] = (),
    ) -> tuple[np.ndarray, dict[str, np.ndarray | CategoricalColumn]]:
        """(bool per id: it has an entity row, the attributes() columns) in one query: a
        stored ScoreEntities checks existence and reads attributes in one statement."""
        return self._attributes(entity_ids, categorical, numeric, with_rows=True)

    def _attributes(
        self,
        entity_ids: Sequence[str],
        categorical: Collection[str],
        numeric: Collection[str],
        *,
        with_rows: bool,
    ) -> tuple[np.ndarray, dict[str, np.ndarray | CategoricalColumn]]:
        """attributes() and, `with_rows`, which ids have a row (else all True unread)."""
        nums = ordered(numeric)
        cats = tuple(c for c in ordered(categorical) if c not in nums)  # numeric wins
        n = len(entity_ids)
        if n == 1 and (cats or nums or with_rows):
            return self._attributes_of_one(entity_ids[0], cats, nums)
        numbers = {c: np.full(n, np.nan) for c in nums}  # filled in below, by position
        out = {**_absent(cats, (), n), **numbers}
        found = np.ones(n, dtype=bool)
        if n == 0 or not (cats or nums or with_rows):
            return found, out
        sql, paths = attribute_sql(cats, nums, False)
        with self._lock:
            rows = self.conn.execute(sql, (*paths, ids_json(entity_ids))).fetchall()
        m = len(rows)
        if m < n:
            found[:] = False
        if not rows:
            return found, out
        # Columns by a C-level itemgetter map: zip(*rows) allocates an iterator per row,
        # and those allocations set off the garbage collector (100k rows: ~100 ms vs ~18).
        pos = np.fromiter(map(itemgetter(0), rows), dtype=np.int64, count=m)
        if m < n:
            found[pos] = True
        # m == n: pos is a permutation of range(n) (json_each keys are distinct), and
        # nearly always the identity (rows come in json_each order): then no scatter.
        every = m == n and bool((pos == np.arange(n)).all())
        for i, c in enumerate(cats, start=1):
            column = (
                one_text(rows[0][i])
                if m == 1
                else texts_to_codes(list(map(itemgetter(i), rows)), m)
            )
            if not every:
                codes = np.full(n, -1, dtype=np.int32)
                codes[pos] = column.codes
                column = CategoricalColumn(codes, column.vocabulary)
            out[c] = column
        for i, c in enumerate(nums, start=1 + len(cats)):
            numbers[c][pos] = floats(list(map(itemgetter(i), rows)), m)
        return found, out

    def _attributes_of_one(
        self,
        entity_id: str,
        cats: tuple[str, ...],
        nums: tuple[str, ...],
    ) -> tuple[np.ndarray, dict[str, np.ndarray | CategoricalColumn]]:
        """_attributes of one id (a unary ScoreEntities): its row by fetchone and each
        column made from its one value, not filled for n rows and scattered into."""
        sql, paths = attribute_sql(cats, nums, True)
        with self._lock:
            row = self.conn.execute(sql, (*paths, entity_id)).fetchone()
        if row is None:
            return np.zeros(1, dtype=bool), _absent(cats, nums, 1)
        out: dict[str, np.ndarray | CategoricalColumn] = {
            c: one_text(row[i]) for i, c in enumerate(cats, start=1)
        }
        for i, c in enumerate(nums, start=1 + len(cats)):
            out[c] = floats([row[i]], 1)
        return np.ones(1, dtype=bool), out

    def erase_entity(self, entity_id: str) -> EraseCounts:
        """Delete everything stored about one entity, in one transaction; entities whose
        account it was are detached from it."""
        with self._write():
            conn = self.conn
            events = conn.execute("DELETE FROM events WHERE entity_id = ?", (entity_id,)).rowcount
            scores = delete_scores_of(conn, entity_id)  # under every profile, shadows too
            self._mirror.drop_entities([entity_id])
            history = conn.execute(
                "DELETE FROM score_history WHERE entity_id = ?", (entity_id,)
            ).rowcount
            changes = conn.execute(
                "DELETE FROM tier_changes WHERE entity_id = ?", (entity_id,)
            ).rowcount
            entities = conn.execute("DELETE FROM entities WHERE id = ?", (entity_id,)).rowcount
            # Its members leave the erased account, so no rollup brings it back.
            conn.execute("UPDATE entities SET account_id = '' WHERE account_id = ?", (entity_id,))
            self._entities.touch([entity_id])
            self._entities.move_account(entity_id, "")
            # Redelivered or new messages about it are dropped from now on (Segment's
            # suppress-with-delete) until allow_again; the row holds a digest, not the id.
            conn.execute(
                "INSERT OR IGNORE INTO suppressed (digest, since) VALUES (?, ?)",
                (id_digest(entity_id), time.time()),
            )
            self._suppressed = None
            # Old copies of its rows sit in WAL frames until a checkpoint: truncate the
            # WAL right after this commits (secure_delete zeroes the freed pages).
            self._truncate_wal_after_commit = True
        return EraseCounts(events, scores, history, changes, entities)

    # -- suppression after erasure

    def suppressed_among(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` were erased and not allowed again. Costs one query per call and
        nothing at all while no id is suppressed (the usual case)."""
        if not ids or self.suppressed_count() == 0:
            return set()
        distinct = list(dict.fromkeys(ids))
        by_digest = dict(zip(map(id_digest, distinct), distinct, strict=True))
        with self._lock:
            rows = self.conn.execute(
                "SELECT digest FROM suppressed WHERE digest IN (SELECT value FROM json_each(?))",
                (json.dumps(list(by_digest)),),
            ).fetchall()
        return {by_digest[r[0]] for r in rows}

    def suppressed_count(self) -> int:
        if self._suppressed is None:
            with self._lock:
                self._suppressed = int(
                    self.conn.execute("SELECT COUNT(*) FROM suppressed").fetchone()[0]
                )
        return self._suppressed

    def count_dropped(self, dropped: dict[str, int]) -> None:
        """Adds to each suppressed id's count of refused messages."""
        if not dropped:
            return
        with self._write():
            self.conn.executemany(
                "UPDATE suppressed SET dropped = dropped + ? WHERE digest = ?",
                [(n, id_digest(entity_id)) for entity_id, n in dropped.items()],
            )

    def dropped_for(self, entity_id: str) -> int | None:
        """Messages refused for a suppressed id since its erasure; None if not suppressed."""
        with self._lock:
            row = self.conn.execute(
                "SELECT dropped FROM suppressed WHERE digest = ?", (id_digest(entity_id),)
            ).fetchone()
        return None if row is None else int(row[0])

    def allow_again(self, entity_id: str) -> bool:
        """Lifts the suppression of an erased id; returns whether it was suppressed."""
        with self._write():
            removed = self.conn.execute(
                "DELETE FROM suppressed WHERE digest = ?", (id_digest(entity_id),)
            ).rowcount
            self._suppressed = None
        return bool(removed)
