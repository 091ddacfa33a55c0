"""SQLite persistence: entities, events, scores, score history and tier changes.

One SQLite file in WAL mode with synchronous=NORMAL; the schema and its migrations live in
store.schema (PRAGMA user_version). sqlite-utils creates and migrates the schema; every hot
path (ingest, bulk loads, score writes) uses the connection it holds (`db.conn`) directly,
with executemany in one transaction and id lists passed as one JSON parameter read through
`json_each(?)` instead of thousands of bound `IN (...)` parameters.

Results are numpy columns (EventColumns; attribute columns as engine.scoring.AttributeColumns:
float64 for numeric attributes, CategoricalColumn codes for categorical ones) or small frozen
dataclasses; no protobuf, no gRPC.

Store itself holds the connection, the lifecycle, transactions and event inserts; the
rest are mixins, one module each: event reads (event_reads.EventReads), entities
(entities.EntityTables), score writes (scores.ScoreTables), shadow candidates and
promotion chunks (shadow_tables.ShadowTables), score reads
(score_queries.ScoreQueries), identity merges (identities.IdentityTables), the account
relation (relations.RelationQueries), retention and promotion intents.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from prioscore.server.errors import FailedPreconditionError, StorageUnavailableError
from prioscore.server.store.checkpoints import WalCheckpointer
from prioscore.server.store.entities import EntityTables
from prioscore.server.store.entity_mirror import EntityMirror
from prioscore.server.store.event_reads import EventReads
from prioscore.server.store.health import (
    DatabaseUnusableError,
    check_integrity,
    check_writable,
    describe_failure,
    is_storage_failure,
)
from prioscore.server.store.identities import IdentityTables
from prioscore.server.store.mirrored import MirroredEntities
from prioscore.server.store.promotions import PromotionTables
from prioscore.server.store.records import (
    EntityRecord,
    EraseCounts,
    EventBatch,
    HistoryPoint,
    ScoreRows,
    StoredScore,
    TierChangeRecord,
)
from prioscore.server.store.relations import RelatedRows, RelationQueries
from prioscore.server.store.retention import PurgeCounts, RetentionQueries
from prioscore.server.store.schema import SCHEMA_VERSION, migrate, schema_version
from prioscore.server.store.score_mirror import ScoreMirror
from prioscore.server.store.score_queries import ScoreQueries
from prioscore.server.store.scores import SCORE_EPSILON, ScoreTables
from prioscore.server.store.shadow_tables import ShadowTables
from prioscore.server.store.slots import SlotTable

__all__ = [
    "SCHEMA_VERSION",
    "SCORE_EPSILON",
    "DatabaseUnusableError",
    "EntityRecord",
    "EraseCounts",
    "EventBatch",
    "HistoryPoint",
    "PurgeCounts",
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


class Store(
    EntityTables,
    IdentityTables,
    ScoreTables,
    ShadowTables,
    ScoreQueries,
    EventReads,
    RelationQueries,
    RetentionQueries,
    PromotionTables,
):
    """The prioscore database. Thread-safe; one instance per process and file."""

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        populations: Callable[[str], np.ndarray | None] | None = None,
    ) -> None:
        """`read_only`: a reader beside the writer's Store on the same file (see reader());
        `populations`: the writer's sorted populations as of its last commit (a reader's;
        the writer's own mirror otherwise)."""
        self.path = Path(path)
        if str(path) != ":memory:" and not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the driver opens no implicit transactions; ours are explicit.
        try:
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            if read_only:
                self._open_reader(conn)
            else:
                self._open(conn)
        except sqlite3.Error as error:
            raise DatabaseUnusableError(f"{self.path}: {describe_failure(error)}") from None
        self._lock = threading.RLock()
        self._in_transaction = False
        self._slots = SlotTable()  # entity id -> slot, shared by the two mirrors
        self._mirror = ScoreMirror(self._slots)  # the scores this connection writes
        self._entities = EntityMirror(self._slots)  # its entity rows (entity_mirror.py)
        self._write_failure = ""  # why the last write failed; "" once one succeeds
        self._suppressed: int | None = None  # rows of `suppressed`, counted when needed
        self._truncate_wal_after_commit = False
        self._write_listeners: list[Callable[[str], None]] = []
        self._checkpointer: WalCheckpointer | None = None
        self._commit_listeners: list[Callable[[], None]] = []
        self._committed_population = populations or self._want_population

    def _want_population(self, profile: str) -> None:
        """The writer's own population source when its mirror has not loaded `profile`:
        none (it reads the rows), and the mirror keeps it from the next load on."""
        self._mirror.want(profile)

    @property
    def slots(self) -> SlotTable:
        """Entity id -> slot for this store's in-memory state (the writer's)."""
        return self._slots

    def mirrored(self) -> MirroredEntities:
        """This store's entity and relation reads from its in-memory mirrors (for the
        writer's scorer: a sweep then reads no entity row from SQLite)."""
        return MirroredEntities(
            self._lock, self.conn, self._entities, self._slots, self._mirrored_scores
        )

    def start_checkpoints(self) -> None:
        """Runs WAL checkpoints on a thread of their own from now on (store.checkpoints):
        for the server, whose writer should not pay for them inside a COMMIT."""
        if self._checkpointer is None and str(self.path) != ":memory:":
            self._checkpointer = WalCheckpointer(self.path)

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Calls `listener()` after each transaction of this Store commits (on the
        writer's thread): the live events publish their committed state to readers."""
        self._commit_listeners.append(listener)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction() is open (its changes are not committed yet)."""
        return self._in_transaction

    def reader(self) -> Store:
        """A second Store on this file for reads served beside the writer: its own
        connection and lock, so a read never waits for the writer's transaction (WAL
        gives it the last committed state). It refuses writes (PRAGMA query_only). Quantile
        tiers it cuts on this store's populations as of its last commit (score_mirror)."""
        return Store(self.path, read_only=True, populations=self._mirror.committed_population)

    def _open_reader(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA query_only=ON")
        self.db = Database(conn, execute_plugins=False)
        self.conn = conn
        self.migrated_from = schema_version(conn)

    def _open(self, conn: sqlite3.Connection) -> None:
        """Pragmas, the integrity check and the migration; refuses a damaged, read-only
        or newer database before anything is served from it."""
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        conn.execute("PRAGMA temp_store=MEMORY")
        # A checkpoint every ~1,000 pages (the default) fired on nearly every ingest batch's
        # COMMIT; a larger WAL checkpoints (and fsyncs) far less often, each page once.
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        # An erased value must not linger in freed pages (the WAL is truncated on erase).
        conn.execute("PRAGMA secure_delete=ON")
        check_integrity(conn)
        self.db = Database(conn, execute_plugins=False)
        self.conn = conn
        self.migrated_from = migrate(self.db)
        check_writable(conn)

    # -- lifecycle

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
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
    def transaction(self, on_rollback: Callable[[], None] | None = None) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception. Not re-entrant.

        `on_rollback` undoes what the caller changed beside the database (the live
        state) when the transaction does not commit."""
        with self._lock:
            if self._in_transaction:
                raise FailedPreconditionError("Store.transaction() is already open")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                self._failed(error)
                raise
            self._in_transaction = True
            try:
                yield
            except BaseException as error:
                self._in_transaction = False
                self._suppressed, self._truncate_wal_after_commit = None, False
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self._mirror.invalidate()
                self._entities.invalidate()
                if on_rollback is not None:
                    on_rollback()
                self._failed(error)
                raise
            self._in_transaction = False
            try:
                self.conn.execute("COMMIT")
            except BaseException as error:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self._mirror.invalidate()
                self._entities.invalidate()
                if on_rollback is not None:
                    on_rollback()
                self._failed(error)
                raise
            self._mirror.publish()
            for listener in self._commit_listeners:
                listener()
            self._succeeded()
            if self._checkpointer is not None:
                self._checkpointer.committed()
            if self._truncate_wal_after_commit:
                self._truncate_wal_after_commit = False
                self.truncate_wal()

    def truncate_wal(self) -> None:
        """Checkpoints every WAL frame into the database and truncates the WAL to zero
        bytes, so no copy of a deleted row stays in it (after an erase, a purge)."""
        pause = self._checkpointer.paused() if self._checkpointer is not None else nullcontext()
        with self._lock, pause:
            try:
                busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as error:
                # The delete is committed; a full disk leaves the copies until the next
                # checkpoint, so the caller hears UNAVAILABLE and may retry (erase is
                # idempotent) rather than believing the WAL clean.
                self._failed(error)
                raise
        if busy:  # a reader outlasted the busy timeout: the copies are still there
            raise StorageUnavailableError(
                "the erasure is stored, but a read kept the WAL from being truncated (a copy"
                " of the erased rows may remain in it until then): retry"
            )

    # -- write health

    @property
    def write_failure(self) -> str:
        """Why the last write failed (disk full, read-only, I/O error), or "" once a
        write has succeeded since; health reports NOT_SERVING while it is set."""
        return self._write_failure

    def add_write_listener(self, listener: Callable[[str], None]) -> None:
        """listener(write_failure) is called whenever write_failure changes."""
        self._write_listeners.append(listener)

    def _failed(self, error: BaseException) -> None:
        """Turns a storage failure into StorageUnavailableError (and remembers it); any
        other error passes through unchanged."""
        if not (isinstance(error, sqlite3.Error) and is_storage_failure(error)):
            return
        reason = describe_failure(error)
        if reason != self._write_failure:
            self._write_failure = reason
            for listener in self._write_listeners:
                listener(reason)
        raise StorageUnavailableError(f"the database cannot take writes: {reason}") from error

    def _succeeded(self) -> None:
        if self._write_failure:
            self._write_failure = ""
            for listener in self._write_listeners:
                listener("")

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

    def count_events(self, entity_id: str | None = None) -> int:
        with self._lock:
            if entity_id is None:
                return int(self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            return int(
                self.conn.execute(
                    "SELECT COUNT(*) FROM events WHERE entity_id = ?", (entity_id,)
                ).fetchone()[0]
            )
