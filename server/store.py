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
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from prioscore.server.engine.model import CategoricalColumn, EventColumns
from prioscore.server.errors import FailedPreconditionError
from prioscore.server.store_schema import SCHEMA_VERSION, migrate, schema_version

__all__ = [
    "SCHEMA_VERSION",
    "EntityRecord",
    "EraseCounts",
    "EventBatch",
    "HistoryPoint",
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
# History is appended only when the score moves by more than this (or the tier changes).
SCORE_EPSILON = 1e-9


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class EventBatch:
    """Events in columnar form, one position per event.

    properties: one JSON object text per event with string and numeric properties merged
    (`'{"url": "/pricing", "clicks": 3}'`); None or "" means no properties. JSON text is
    what executemany binds without any per-row work, so it is the fast form; a list of
    dicts is accepted too and serialised with json.dumps (one call per event, slower).
    value: NaN means "the event carries no value" and reads back as 1.0.
    """

    message_id: Sequence[str]
    entity_id: Sequence[str]
    event: Sequence[str]
    ts: np.ndarray  # float64 seconds since the epoch
    value: np.ndarray  # float64
    properties: Sequence[str | None] | Sequence[Mapping[str, Any]]

    def __len__(self) -> int:
        return len(self.message_id)


@dataclass(frozen=True)
class EntityRecord:
    """An entity and its attributes (identify traits).

    Upserting merges: given keys overwrite, new keys are added, absent keys are kept; an
    empty kind / account_id keeps the stored one; created is kept from the first write.
    created / updated of 0.0 mean "now" when written.
    """

    id: str
    kind: str = ""
    account_id: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    numeric_attributes: Mapping[str, float] = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0


@dataclass(frozen=True)
class ScoreRows:
    """Scores of n entities under one profile, columnar; ts is when they were computed.

    tier: tier name per row ("" for none, e.g. disqualified, if the caller wants that);
    reasons: one JSON text per row (stored and returned verbatim); empty means "[]".
    """

    entity_id: Sequence[str]
    score: np.ndarray  # float64
    engagement: np.ndarray  # float64
    fit: np.ndarray  # float64
    tier: Sequence[str] | np.ndarray
    disqualified: np.ndarray  # bool
    reasons: Sequence[str]
    ts: float

    def __len__(self) -> int:
        return len(self.entity_id)


@dataclass(frozen=True)
class StoredScore:
    entity_id: str
    profile: str
    profile_version: int
    score: float
    engagement: float
    fit: float
    tier: str
    disqualified: bool
    reasons: str  # JSON text as written
    updated: float
    account_id: str = ""  # of the entity row; "" when the entity has none / no row


@dataclass(frozen=True)
class HistoryPoint:
    entity_id: str
    profile: str
    profile_version: int
    ts: float
    score: float
    tier: str


@dataclass(frozen=True)
class TierChangeRecord:
    """A tier transition; an entity's first score is a change from previous_tier "" with
    previous_score 0.0."""

    id: int
    entity_id: str
    profile: str
    previous_tier: str
    tier: str
    previous_score: float
    score: float
    ts: float
    cause_message_id: str


@dataclass(frozen=True)
class EraseCounts:
    events: int
    scores: int
    history: int
    tier_changes: int
    entities: int

    @property
    def total(self) -> int:
        return self.events + self.scores + self.history + self.tier_changes + self.entities


# --------------------------------------------------------------------------- helpers


def _json_path(key: str) -> str:
    """JSON path selecting the top-level `key` (dots, spaces, brackets allowed).

    SQLite's JSON paths cannot escape a double quote inside a quoted key, so such a name
    is refused rather than silently read as missing.
    """
    if '"' in key:
        raise ValueError(f"property / attribute name {key!r} contains a double quote")
    return '$."' + key + '"'


def _ordered(values: Collection[str]) -> tuple[str, ...]:
    """Distinct values: in the given order for sequences, sorted for sets (deterministic)."""
    if isinstance(values, Sequence) and not isinstance(values, str):
        return tuple(dict.fromkeys(values))
    return tuple(sorted(set(values)))


def _ids_json(ids: Sequence[str]) -> str:
    return json.dumps(list(ids), ensure_ascii=False)


def _categorical(raw: Sequence[Any], n: int) -> CategoricalColumn:
    """Factorise a column of str / None (None -> code -1) without a Python loop per row."""
    arr = np.array(raw, dtype=object) if n else np.empty(0, dtype=object)
    present = arr != None  # noqa: E711 - elementwise on an object array
    codes = np.full(n, -1, dtype=np.int32)
    if present.any():
        values = arr[present].astype(str)
        vocabulary, inverse = np.unique(values, return_inverse=True)
        codes[present] = inverse.astype(np.int32)
        return CategoricalColumn(codes=codes, vocabulary=tuple(vocabulary.tolist()))
    return CategoricalColumn(codes=codes, vocabulary=())


def _floats(raw: Sequence[Any], n: int) -> np.ndarray:
    """float64 column, None -> NaN."""
    return np.array(raw, dtype=np.float64) if n else np.empty(0, dtype=np.float64)


# --------------------------------------------------------------------------- store


class Store:
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
        types = _ordered(event_types)
        strings = _ordered(string_properties)
        numbers = _ordered(numeric_properties)
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
        params += [_json_path(s) for s in strings]
        for s in numbers:
            params += [_json_path(s), _json_path(s)]
        sql = (
            f"SELECT {', '.join(columns)} FROM json_each(?) AS j"
            " CROSS JOIN events AS e ON e.entity_id = j.value"
            f" WHERE e.event IN ({', '.join('?' * len(types))})"
        )
        params += [_ids_json(entity_ids), *types]
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
            strings={s: _categorical(cols[4 + i], n) for i, s in enumerate(strings)},
            numbers={s: _floats(cols[4 + len(strings) + i], n) for i, s in enumerate(numbers)},
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
                (kind, account_id, now, now, _ids_json(ids)),
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
                (_ids_json(ids),),
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
                (_ids_json(ids),),
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
    ) -> dict[str, np.ndarray]:
        """model.Attributes aligned to entity_ids: str arrays ("" missing) for categorical,
        float64 (NaN missing) for numeric. A categorical attribute only present among the
        numeric ones is read as its text ("3", "2.5"), so fit rules may key on either; a
        name asked for as both is returned numeric."""
        nums = _ordered(numeric)
        cats = tuple(c for c in _ordered(categorical) if c not in nums)  # numeric wins
        n = len(entity_ids)
        out: dict[str, np.ndarray] = {c: np.full(n, "", dtype=np.str_) for c in cats}
        out.update({c: np.full(n, np.nan) for c in nums})
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
            params += [_json_path(c), _json_path(c)]
        for c in nums:
            columns.append(
                "CASE WHEN json_type(e.numeric_attributes, ?) IN ('integer', 'real')"
                " THEN json_extract(e.numeric_attributes, ?) END"
            )
            params += [_json_path(c), _json_path(c)]
        params.append(_ids_json(entity_ids))
        with self._lock:
            rows = self.conn.execute(
                f"SELECT {', '.join(columns)} FROM json_each(?) AS j"
                " CROSS JOIN entities AS e ON e.id = j.value",
                params,
            ).fetchall()
        if not rows:
            return out
        cols = list(zip(*rows, strict=True))
        pos = np.fromiter(cols[0], dtype=np.int64, count=len(rows))
        for i, c in enumerate(cats):
            raw = np.array(cols[1 + i], dtype=object)
            raw[raw == None] = ""  # noqa: E711 - elementwise on an object array
            column = out[c]
            values = raw.astype(np.str_)
            if values.dtype.itemsize > column.dtype.itemsize:
                column = column.astype(values.dtype)
            column[pos] = values
            out[c] = column
        for i, c in enumerate(nums):
            out[c][pos] = _floats(cols[1 + len(cats) + i], len(rows))
        return out

    # -- scores

    def write_scores(
        self, profile: str, version: int, rows: ScoreRows, cause_message_id: str = ""
    ) -> list[TierChangeRecord]:
        """Upsert the scores of `rows` under `profile`; append history and tier changes.

        History: a point is appended only where the score moved by more than SCORE_EPSILON
        or the tier changed (a first score always counts), so re-scoring unchanged entities
        costs no history rows; the latest value is always in `scores`. Tier changes: one
        row where the stored tier differs from the new one; returned with their ids, in
        row order. Entity ids must be distinct within `rows`.
        """
        n = len(rows.entity_id)
        if n == 0:
            return []
        ids = np.array(rows.entity_id, dtype=object)
        score = np.asarray(rows.score, dtype=np.float64)
        tier = np.array(rows.tier, dtype=object)
        reasons: Sequence[str] = rows.reasons if len(rows.reasons) else ["[]"] * n
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
        ts = float(rows.ts)
        with self._write():
            prev = self.conn.execute(
                "SELECT j.key, s.score, s.tier FROM json_each(?) AS j"
                " CROSS JOIN scores AS s ON s.profile = ? AND s.entity_id = j.value",
                (_ids_json(rows.entity_id), profile),
            ).fetchall()
            prev_score = np.zeros(n)
            prev_tier = np.full(n, "", dtype=object)
            has_prev = np.zeros(n, dtype=bool)
            if prev:
                p_pos, p_score, p_tier = zip(*prev, strict=True)
                pos = np.fromiter(p_pos, dtype=np.int64, count=len(prev))
                prev_score[pos] = p_score
                prev_tier[pos] = p_tier
                has_prev[pos] = True
            tier_changed = prev_tier != tier
            moved = ~has_prev | (np.abs(score - prev_score) > SCORE_EPSILON)
            history = np.flatnonzero(moved | tier_changed)
            changed = np.flatnonzero(tier_changed)

            self.conn.executemany(
                "INSERT INTO scores (entity_id, profile, profile_version, score, engagement,"
                " fit, tier, disqualified, reasons, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (profile, entity_id) DO UPDATE SET"
                " profile_version = excluded.profile_version, score = excluded.score,"
                " engagement = excluded.engagement, fit = excluded.fit, tier = excluded.tier,"
                " disqualified = excluded.disqualified, reasons = excluded.reasons,"
                " updated = excluded.updated",
                zip(
                    rows.entity_id,
                    repeat(profile),
                    repeat(int(version)),
                    score.tolist(),
                    np.asarray(rows.engagement, dtype=np.float64).tolist(),
                    np.asarray(rows.fit, dtype=np.float64).tolist(),
                    tier.tolist(),
                    np.asarray(rows.disqualified, dtype=bool).astype(np.int64).tolist(),
                    reasons,
                    repeat(ts),
                ),
            )
            if len(history):
                self.conn.executemany(
                    "INSERT INTO score_history (entity_id, profile, profile_version, ts, score,"
                    " tier) VALUES (?, ?, ?, ?, ?, ?)",
                    zip(
                        ids[history].tolist(),
                        repeat(profile),
                        repeat(int(version)),
                        repeat(ts),
                        score[history].tolist(),
                        tier[history].tolist(),
                    ),
                )
            if not len(changed):
                return []
            c_ids = ids[changed].tolist()
            c_prev_tier = prev_tier[changed].tolist()
            c_tier = tier[changed].tolist()
            c_prev_score = prev_score[changed].tolist()
            c_score = score[changed].tolist()
            self.conn.executemany(
                "INSERT INTO tier_changes (entity_id, profile, previous_tier, tier,"
                " previous_score, score, ts, cause_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                zip(
                    c_ids,
                    repeat(profile),
                    c_prev_tier,
                    c_tier,
                    c_prev_score,
                    c_score,
                    repeat(ts),
                    repeat(cause_message_id),
                ),
            )
            # AUTOINCREMENT under the write lock: the ids of this executemany are contiguous.
            last = int(self.conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        first = last - len(changed) + 1
        return [
            TierChangeRecord(first + i, e, profile, pt, t, ps, s, ts, cause_message_id)
            for i, (e, pt, t, ps, s) in enumerate(
                zip(c_ids, c_prev_tier, c_tier, c_prev_score, c_score, strict=True)
            )
        ]

    _SCORE_COLUMNS = (
        "s.entity_id, s.profile, s.profile_version, s.score, s.engagement, s.fit, s.tier,"
        " s.disqualified, s.reasons, s.updated, COALESCE(e.account_id, '')"
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
    ) -> tuple[str, list[Any]]:
        if account_id is not None:
            join = " JOIN entities AS e ON e.id = s.entity_id"
        elif need_entities:
            join = " LEFT JOIN entities AS e ON e.id = s.entity_id"
        else:
            join = ""
        sql = f" FROM scores AS s{join} WHERE s.profile = ?"
        params: list[Any] = [profile]
        if tiers:
            sql += " AND s.tier IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(set(tiers)), ensure_ascii=False))
        if account_id is not None:
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
        scores_rank index, so a page costs O(limit) however deep it is."""
        where, params = self._score_filter(
            profile, tiers, account_id, min_score, include_disqualified
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
        """How many rows rank() would page through with the same filters."""
        where, params = self._score_filter(
            profile, tiers, account_id, min_score, include_disqualified, need_entities=False
        )
        with self._lock:
            return int(self.conn.execute(f"SELECT COUNT(*){where}", params).fetchone()[0])

    def get_scores(self, profile: str, entity_ids: Sequence[str]) -> dict[str, StoredScore]:
        """Stored scores by entity id; unscored ids are absent."""
        if not entity_ids:
            return {}
        with self._lock:
            rows = self.conn.execute(
                f"SELECT {self._SCORE_COLUMNS} FROM json_each(?) AS j"
                " CROSS JOIN scores AS s ON s.profile = ? AND s.entity_id = j.value"
                " LEFT JOIN entities AS e ON e.id = s.entity_id",
                (_ids_json(entity_ids), profile),
            ).fetchall()
        return {r[0]: self._stored(r) for r in rows}

    def score_history(
        self,
        entity_id: str,
        profile: str | None = None,
        *,
        limit: int,
        before: float | None = None,
    ) -> list[HistoryPoint]:
        """History points of one entity (one profile or all), newest first; `before`
        keeps ts < before (page with the last point's ts)."""
        sql = (
            "SELECT entity_id, profile, profile_version, ts, score, tier FROM score_history"
            " WHERE entity_id = ?"
        )
        params: list[Any] = [entity_id]
        if profile is not None:
            sql += " AND profile = ?"
            params.append(profile)
        if before is not None:
            sql += " AND ts < ?"
            params.append(float(before))
        sql += " ORDER BY ts DESC, rowid DESC LIMIT ?"
        params.append(max(int(limit), 0))
        with self._lock:
            return [HistoryPoint(*r) for r in self.conn.execute(sql, params)]

    def tier_changes_since(
        self, change_id: int, *, limit: int | None = None, profile: str | None = None
    ) -> list[TierChangeRecord]:
        """Tier changes with id > change_id, oldest first (a watch cursor)."""
        sql = (
            "SELECT id, entity_id, profile, previous_tier, tier, previous_score, score, ts,"
            " cause_message_id FROM tier_changes WHERE id > ?"
        )
        params: list[Any] = [int(change_id)]
        if profile is not None:
            sql += " AND profile = ?"
            params.append(profile)
        sql += " ORDER BY id"
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

    # -- erasure

    def erase_entity(self, entity_id: str) -> EraseCounts:
        """Delete everything stored about one entity, in one transaction."""
        with self._write():
            conn = self.conn
            events = conn.execute("DELETE FROM events WHERE entity_id = ?", (entity_id,)).rowcount
            # scores has no index on entity_id alone: every scores row has history (a first
            # score always appends a point), so history names the profiles to look in.
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
        return EraseCounts(events, scores, history, changes, entities)
