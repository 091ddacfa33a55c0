"""SQLite persistence: entities, events, scores, score history and tier changes.

One SQLite file in WAL mode with synchronous=NORMAL; the schema and its migrations live in
store_schema (PRAGMA user_version). sqlite-utils creates and migrates the schema; every hot
path (ingest, bulk loads, score writes) uses the connection it holds (`db.conn`) directly,
with executemany in one transaction and id lists passed as one JSON parameter read through
`json_each(?)` instead of thousands of bound `IN (...)` parameters.

Results are numpy columns (EventColumns; attribute columns as engine.scoring.AttributeColumns:
float64 for numeric attributes, CategoricalColumn codes for categorical ones) or small frozen
dataclasses; no protobuf, no gRPC.

Store itself holds the connection, the lifecycle, transactions and the events table; the
other tables are mixins, one module each: entities (store_entities.EntityTables), scores,
history, tier changes and shadows (store_scores.ScoreTables), identity merges
(identities.IdentityTables) and the account relation (store_relations.RelationQueries).

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

from prioscore.server.engine import EventColumns
from prioscore.server.errors import FailedPreconditionError
from prioscore.server.store.entities import EntityTables
from prioscore.server.store.identities import IdentityTables
from prioscore.server.store.records import (
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
)
from prioscore.server.store.relations import RelatedRows, RelationQueries
from prioscore.server.store.schema import SCHEMA_VERSION, migrate, schema_version
from prioscore.server.store.scores import SCORE_EPSILON, ScoreTables

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


class Store(EntityTables, IdentityTables, ScoreTables, RelationQueries):
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

        # Columns by a C-level itemgetter map, as in attributes(): zip(*rows) allocates an
        # iterator per row, and those allocations set off the garbage collector.
        def column(i: int) -> Iterator[Any]:
            return map(itemgetter(i), rows)

        return EventColumns(
            entity=np.fromiter(column(0), dtype=np.int64, count=n),
            event_type=np.fromiter(column(1), dtype=np.int32, count=n),
            ts=np.fromiter(column(2), dtype=np.float64, count=n),
            value=np.fromiter(column(3), dtype=np.float64, count=n),
            event_types=types,
            # Lists, not iterators: categorical() reads its column twice, floats() takes a list.
            strings={s: categorical(list(column(4 + i)), n) for i, s in enumerate(strings)},
            numbers={
                s: floats(list(column(4 + len(strings) + i)), n) for i, s in enumerate(numbers)
            },
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
