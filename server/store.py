"""SQLite persistence: entities, events, scores, score history and tier changes.

One SQLite file in WAL mode with synchronous=NORMAL; the schema and its migrations live in
store_schema (PRAGMA user_version). sqlite-utils creates and migrates the schema; every hot
path (ingest, bulk loads, score writes) uses the connection it holds (`db.conn`) directly,
with executemany in one transaction and id lists passed as one JSON parameter read through
`json_each(?)` instead of thousands of bound `IN (...)` parameters.

Results are numpy columns (EventColumns, model.Attributes) or small frozen dataclasses; no
protobuf, no gRPC.

Transactions: `with store.transaction():` runs BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an
exception) and every write method inside joins it. Outside one, each write method commits
on its own. Nesting transaction() is an error. The connection is shared between threads
behind one re-entrant lock, held for a whole transaction, so writes of two requests never
interleave.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from prioscore.server.engine.model import CategoricalColumn, EventColumns
from prioscore.server.errors import FailedPreconditionError
from prioscore.server.store_records import (
    EntityRecord,
    EraseCounts,
    EventBatch,
    HistoryPoint,
    ScoreRows,
    StoredScore,
    TierChangeRecord,
    categorical,
    floats,
    ids_json,
    json_path,
    ordered,
    texts_to_codes,
)
from prioscore.server.store_relations import RelatedRows, RelationQueries
from prioscore.server.store_schema import SCHEMA_VERSION, migrate, schema_version
from prioscore.server.store_scores import SCORE_EPSILON, ScoreTables

__all__ = [
    "SCHEMA_VERSION",
    "SCORE_EPSILON",
    "EntityRecord",
    "EraseCounts",
    "EventBatch",
    "HistoryPoint",
    "RelatedRows",
    "ScoreRows",
    "Store",
    "StoredScore",
    "TierChangeRecord",
]

# Page cache of 64 MiB: random message ids make the primary-key b-tree insert at random
# pages; with the default 2 MiB cache ingest ran at about half the speed.
PAGE_CACHE_KIB = 65_536
WAL_AUTOCHECKPOINT_PAGES = 16_384  # ~64 MiB of 4 KiB pages between checkpoints
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024  # the WAL is truncated back to this after one


# --------------------------------------------------------------------------- store


class Store(ScoreTables, RelationQueries):
    """The prioscore database. Thread-safe; one instance per process and file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the driver opens no implicit transactions; ours are explicit.
        conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        conn.execute("PRAGMA temp_store=MEMORY")
        # A checkpoint every ~1,000 pages (the default) fired on nearly every ingest batch's
        # COMMIT; a larger WAL checkpoints (and fsyncs) far less often, each page once.
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        self.db = Database(conn, execute_plugins=False)
        self.conn = conn
        self._lock = threading.RLock()
        self._in_transaction = False
        self.migrated_from = migrate(self.db)

    # -- lifecycle

    def close(self) -> None:
        with self._lock:
            with suppress(sqlite3.Error):
                self.conn.execute("PRAGMA optimize")
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return schema_version(self.conn)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception. Not re-entrant."""
        with self._lock:
            if self._in_transaction:
                raise FailedPreconditionError("Store.transaction() is already open")
            self.conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield
            except BaseException:
                self._in_transaction = False
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self._in_transaction = False
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _write(self) -> Iterator[None]:
        """Join the open transaction, or run this one write in its own."""
        with self._lock:
            if self._in_transaction:
                yield
            else:
                with self.transaction():
                    yield

    # -- events

    def insert_events(self, batch: EventBatch) -> int:
        """INSERT OR IGNORE the batch; returns how many events were new (dedupe on
        message_id, so a redelivered event counts once and changes nothing)."""
        n = len(batch.message_id)
        if not (
            len(batch.entity_id) == len(batch.event) == len(batch.ts) == len(batch.value) == n
        ) or len(batch.properties) not in (0, n):
            raise ValueError("EventBatch columns differ in length")
        if n == 0:
            return 0
        props: Sequence[Any] = batch.properties
        if len(props) == 0:
            props = [None] * n
        elif not isinstance(props[0], str | None):
            props = [json.dumps(p, ensure_ascii=False) if p else None for p in props]
        elif "" in props:
            props = [p or None for p in props]
        ts = np.asarray(batch.ts, dtype=np.float64).tolist()
        value = np.asarray(batch.value, dtype=np.float64).tolist()
        rows = zip(
            batch.message_id, batch.entity_id, batch.event, ts, value, props, repeat(time.time())
        )
        with self._write():
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO events"
                " (message_id, entity_id, event, ts, value, properties, ingested)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return self.conn.total_changes - before

    def load_events(
        self,
        entity_ids: Sequence[str],
        event_types: Collection[str],
        string_properties: Collection[str] = (),
        numeric_properties: Collection[str] = (),
        until: float | None = None,
    ) -> EventColumns:
        """Events of `entity_ids` whose type is in `event_types`, columnar.

        entity = position in entity_ids (ids must be distinct); event_type = position in
        the returned event_types (given order for sequences, sorted for sets); until keeps
        ts <= until. Rows come grouped by entity, ascending ts within an entity. String
        properties become CategoricalColumn (-1 where absent; numbers are read as their
        text), numeric ones float64 (NaN where absent or not a number).
        """
        types = ordered(event_types)
        strings = ordered(string_properties)
        numbers = ordered(numeric_properties)
        if len(set(entity_ids)) != len(entity_ids):
            raise ValueError("load_events: entity_ids must be distinct")
        # The type's position by CASE and the filter by IN (bound parameters): a json_each
        # join on the types cost a table-valued scan per event row.
        columns = [
            "j.key",
            "CASE e.event" + " WHEN ? THEN ?" * len(types) + " END",
            "e.ts",
            "COALESCE(e.value, 1.0)",
        ]
        params: list[Any] = [x for position, t in enumerate(types) for x in (t, position)]
        for _ in strings:
            columns.append("CAST(json_extract(e.properties, ?) AS TEXT)")
        for _ in numbers:
            columns.append(
                "CASE WHEN json_type(e.properties, ?) IN ('integer', 'real')"
                " THEN json_extract(e.properties, ?) END"
            )
        params += [json_path(s) for s in strings]
        for s in numbers:
            params += [json_path(s), json_path(s)]
        sql = (
            f"SELECT {', '.join(columns)} FROM json_each(?) AS j"
            " CROSS JOIN events AS e ON e.entity_id = j.value"
            f" WHERE e.event IN ({', '.join('?' * len(types))})"
        )
        params += [ids_json(entity_ids), *types]
        if until is not None:
            sql += " AND e.ts <= ?"
            params.append(float(until))
        rows: list[tuple[Any, ...]] = []
        if entity_ids and types:
            with self._lock:
                rows = self.conn.execute(sql, params).fetchall()
        n = len(rows)
        cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if n else [()] * len(columns)
        return EventColumns(
            entity=np.fromiter(cols[0], dtype=np.int64, count=n),
            event_type=np.fromiter(cols[1], dtype=np.int32, count=n),
            ts=np.fromiter(cols[2], dtype=np.float64, count=n),
            value=np.fromiter(cols[3], dtype=np.float64, count=n),
            event_types=types,
            strings={s: categorical(cols[4 + i], n) for i, s in enumerate(strings)},
            numbers={s: floats(cols[4 + len(strings) + i], n) for i, s in enumerate(numbers)},
        )

    def count_events(self, entity_id: str | None = None) -> int:
        with self._lock:
            if entity_id is None:
                return int(self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            return int(
                self.conn.execute(
                    "SELECT COUNT(*) FROM events WHERE entity_id = ?", (entity_id,)
                ).fetchone()[0]
            )

    # -- entities

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
                json.dumps({k: float(v) for k, v in e.numeric_attributes.items()})
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
        return len({e.id for e in entities})

    def set_entity_kinds(self, ids: Sequence[str], kinds: Sequence[str], now: float) -> None:
        """Record the (non-empty) kind of each entity, creating bare rows where needed:
        what upsert_entities does for EntityRecord(id, kind, created=now, updated=now)
        with no account or attributes, in one statement (rows apply in order)."""
        if len(ids) != len(kinds):
            raise ValueError("set_entity_kinds: ids and kinds differ in length")
        if not ids:
            return
        with self._write():
            self.conn.execute(
                "INSERT INTO entities (id, kind, account_id, created, updated)"
                " SELECT j.value ->> 0, j.value ->> 1, '', ?, ? FROM json_each(?) AS j"
                " WHERE j.value ->> 1 <> '' ORDER BY j.key"
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, updated = excluded.updated",
                (now, now, json.dumps(list(zip(ids, kinds, strict=True)), ensure_ascii=False)),
            )

    def ensure_entities(self, ids: Sequence[str], kind: str = "", account_id: str = "") -> int:
        """Create bare rows for ids that have none (e.g. seen only in track events);
        returns how many were created. Existing rows are untouched."""
        if not ids:
            return 0
        now = time.time()
        with self._write():
            before = self.conn.total_changes
            self.conn.execute(
                "INSERT OR IGNORE INTO entities (id, kind, account_id, created, updated)"
                " SELECT value, ?, ?, ?, ? FROM json_each(?)",
                (kind, account_id, now, now, ids_json(ids)),
            )
            return self.conn.total_changes - before

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
        nums = ordered(numeric)
        cats = tuple(c for c in ordered(categorical) if c not in nums)  # numeric wins
        n = len(entity_ids)
        numbers = {c: np.full(n, np.nan) for c in nums}
        out: dict[str, np.ndarray | CategoricalColumn] = {
            c: CategoricalColumn(np.full(n, -1, dtype=np.int32), ()) for c in cats
        }
        out.update(numbers)
        if n == 0 or not (cats or nums):
            return out
        columns = ["j.key"]
        params: list[Any] = []
        for c in cats:
            columns.append(
                "COALESCE(CAST(json_extract(e.attributes, ?) AS TEXT),"
                " (SELECT CASE WHEN v = CAST(v AS INTEGER) THEN CAST(CAST(v AS INTEGER) AS TEXT)"
                " ELSE CAST(v AS TEXT) END"
                " FROM (SELECT json_extract(e.numeric_attributes, ?) AS v)))"
            )
            params += [json_path(c), json_path(c)]
        for c in nums:
            columns.append(
                "CASE WHEN json_type(e.numeric_attributes, ?) IN ('integer', 'real')"
                " THEN json_extract(e.numeric_attributes, ?) END"
            )
            params += [json_path(c), json_path(c)]
        params.append(ids_json(entity_ids))
        with self._lock:
            rows = self.conn.execute(
                f"SELECT {', '.join(columns)} FROM json_each(?) AS j"
                " CROSS JOIN entities AS e ON e.id = j.value",
                params,
            ).fetchall()
        if not rows:
            return out
        # Columns by a C-level itemgetter map: zip(*rows) allocates an iterator per row,
        # and those allocations set off the garbage collector (100k rows: ~100 ms vs ~18).
        m = len(rows)
        pos = np.fromiter(map(itemgetter(0), rows), dtype=np.int64, count=m)
        # m == n: pos is a permutation of range(n) (json_each keys are distinct), and
        # nearly always the identity (rows come in json_each order): then no scatter.
        every = m == n and (n == 1 or bool((pos == np.arange(n)).all()))
        for i, c in enumerate(cats, start=1):
            column = texts_to_codes(list(map(itemgetter(i), rows)), m)
            if not every:
                codes = np.full(n, -1, dtype=np.int32)
                codes[pos] = column.codes
                column = CategoricalColumn(codes, column.vocabulary)
            out[c] = column
        for i, c in enumerate(nums, start=1 + len(cats)):
            numbers[c][pos] = floats(list(map(itemgetter(i), rows)), m)
        return out

    def erase_entity(self, entity_id: str) -> EraseCounts:
        """Delete everything stored about one entity, in one transaction; entities whose
        account it was are detached from it."""
        with self._write():
            conn = self.conn
            events = conn.execute("DELETE FROM events WHERE entity_id = ?", (entity_id,)).rowcount
            # scores has no index on entity_id alone: every scores row has history (a first
            # score always appends a point), so history names the profiles to look in.
            # Shadow rows ("<profile>@shadow", no history) go with the entity row: a
            # trigger of schema v2 deletes them.
            scores = conn.execute(
                "DELETE FROM scores WHERE entity_id = ? AND profile IN"
                " (SELECT DISTINCT profile FROM score_history WHERE entity_id = ?)",
                (entity_id, entity_id),
            ).rowcount
            history = conn.execute(
                "DELETE FROM score_history WHERE entity_id = ?", (entity_id,)
            ).rowcount
            changes = conn.execute(
                "DELETE FROM tier_changes WHERE entity_id = ?", (entity_id,)
            ).rowcount
            entities = conn.execute("DELETE FROM entities WHERE id = ?", (entity_id,)).rowcount
            # Its members leave the erased account, so no rollup brings it back.
            conn.execute("UPDATE entities SET account_id = '' WHERE account_id = ?", (entity_id,))
        return EraseCounts(events, scores, history, changes, entities)
