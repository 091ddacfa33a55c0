"""EntityMirror: the entity rows the scoring path reads (kind, account, attribute
columns), in memory beside the store's one writing connection.

A clock sweep reads every entity's attributes, its account and its members for each
profile; from SQLite that is a JSON extraction per row and attribute, a million rows a
profile, although almost none of them changed since the last sweep. This copy is read
once (base columns on first use, each attribute column on the first read of it) and then
follows the store: every statement that writes entity rows names the ids it touched
(`touch`), and those rows are read again (GIL_SLICE per query) before the next read; a move of
every member of an account is applied in place (`move_account`); a rolled-back
transaction drops everything (`invalidate`), so it is never stale, at worst reloaded.

The orders built from it follow changes without a rebuild: the id order (a sweep's
population) merges the ids that came since by binary search when it is next read, and
the members index (rollups) lists the slots that came, went or moved apart until they
pass a hundredth of all slots.

Shape: arrays by slot (SlotTable, shared with the score mirror), as narrow as the data
allows (issue 12, S4): exists, kind code int16, account slot int32 (-1 none); per
attribute column codes into an append-only list of values (-1 absent) in the smallest
signed integer that holds them, or numbers (NaN absent) in float32 while every value is
exactly a float32; a column widens in place when a value needs it. Reads widen to what
the store's reads give (int32 codes, float64).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np

from prioscore.server.engine import GIL_SLICE
from prioscore.server.store.narrow import code_dtype, narrow_floats
from prioscore.server.store.records import ids_json
from prioscore.server.store.slots import SlotTable

MOVED_MIN = 1_024  # the members index is rebuilt once more slots than this and
MOVED_SHARE = 100  # a hundredth of all slots changed account since it was built


class ColumnKind(StrEnum):
    """How an attribute is read: SQL text with a JSON path parameter per `?`."""

    TEXT = "text"  # a categorical attribute (entities.CATEGORICAL_SQL)
    NUMBER = "number"  # a numeric attribute (entities.NUMERIC_SQL)
    RAW = "raw"  # json_extract(e.attributes, ?): a member's `by` attribute


@dataclass
class _Column:
    """One attribute by slot: codes into `values` (TEXT, RAW) or numbers (NUMBER)."""

    sql: str
    params: tuple[str, ...]
    numeric: bool
    data: np.ndarray
    values: list[object] = field(default_factory=list)
    index: dict[object, int] = field(default_factory=lambda: {None: -1})

    def code(self, raw: list[object]) -> np.ndarray:
        """Codes of raw values (new ones appended; None -> -1), or their numbers (None
        -> NaN); `data` widens first when they need it. C-level maps only."""
        if self.numeric:
            numbers = np.array(raw, dtype=np.float64)
            if self.data.dtype == np.float32 and narrow_floats(numbers).dtype != np.float32:
                self.data = self.data.astype(np.float64)
            return numbers
        new = [v for v in dict.fromkeys(raw) if v not in self.index]
        start = len(self.values)
        self.index.update(zip(new, range(start, start + len(new)), strict=True))
        self.values.extend(new)
        wide = code_dtype(len(self.values))
        if wide.itemsize > self.data.dtype.itemsize:
            self.data = self.data.astype(wide)
        return np.fromiter(map(self.index.__getitem__, raw), np.int32, len(raw))

    def clear(self, at: np.ndarray) -> None:
        self.data[at] = np.nan if self.numeric else -1

    def grown(self, n: int) -> None:
        extra = np.full(n - len(self.data), np.nan if self.numeric else -1, self.data.dtype)
        self.data = np.concatenate([self.data, extra])


class EntityMirror:
    """Kind, account and attribute columns of every stored entity, by slot."""

    def __init__(self, slots: SlotTable) -> None:
        self._slots = slots
        self.invalidate()

    def invalidate(self) -> None:
        """Forgets everything (after a rollback): read again on next use."""
        self._built = False
        # Ids touched since the last catch-up, in the order touched (a dict: sorting a
        # set of 200k ids to make the order definite held the GIL ~50 ms).
        self._dirty: dict[str, None] = {}
        self._exists = np.zeros(0, bool)
        self._kind = np.zeros(0, np.int16)
        self._account = np.zeros(0, np.int32)
        self._kinds: dict[str, int] = {}
        self._columns: dict[tuple[ColumnKind, str], _Column] = {}
        self._sorted: np.ndarray | None = None  # existing slots by id
        self._sorted_ids: np.ndarray | None = None  # their ids (object), for merging in
        self._order_stale = False  # rows came or went since the id order was merged
        self._by_account: tuple[np.ndarray, np.ndarray] | None = None  # (slots, offsets)
        self._moved: set[int] = set()  # slots that came, went or moved since it was built

    @property
    def nbytes(self) -> int:
        arrays = [self._exists, self._kind, self._account]
        arrays += [c.data for c in self._columns.values()]
        kept = (self._sorted, self._sorted_ids, *(self._by_account or ()))
        arrays += [a for a in kept if a is not None]
        return sum(a.nbytes for a in arrays)

    # -- following the store's writes

    def touch(self, ids: Iterable[str]) -> None:
        """Rows of `ids` were written (or deleted): read them again before the next use."""
        if self._built:
            self._dirty.update(zip(ids, repeat(None)))

    def created(self, ids: Sequence[str], kind: str, account_id: str) -> None:
        """Bare rows of `kind` and `account_id` (no attributes) were just created for
        `ids` (Store.ensure_entities): applied as they are. Touched instead, they were
        read back from SQLite before the next use, for every ingest batch that named a
        new entity. GIL_SLICE ids at a time, as _apply's coding takes them."""
        if not (self._built and ids):
            return
        bare = [repeat(None)] * len(self._columns)  # no attribute: NULL in every column
        for at in range(0, len(ids), GIL_SLICE):
            part = ids[at : at + GIL_SLICE]
            self._apply(part, list(zip(part, repeat(kind), repeat(account_id), *bare)))

    def move_account(self, old: str, new: str) -> None:
        """Every entity of account `old` now belongs to `new` ("" = none)."""
        if not self._built:
            return
        self._fit()
        (was,) = self._slots.of([old], add=False)
        if was < 0:
            return
        (to,) = self._slots.of([new], add=True) if new else (-1,)
        self._fit()
        members = self._account == was
        self._account[members] = to
        self._note_moved(np.flatnonzero(members))

    # -- reads (callers hold the store's lock)

    def ready(self, conn: sqlite3.Connection) -> None:
        """Built, grown to every slot and caught up with the rows written since."""
        if not self._built:
            # In id order: the order population() keeps is then the rows' own. Sorting
            # the ids in Python held the GIL 1.5 s at a million entities (every call
            # stalled, on the first sweep); SQLite's sorter releases it. `+id` keeps
            # SQLite off the primary key's index: a table look-up per row, 2.7 s
            # against the sorter's 1.7 s (a plain scan: 1.0 s). Coded GIL_SLICE rows
            # at a time: each C loop over every row held the GIL ~16 ms at 200k.
            cursor = conn.execute("SELECT id, kind, account_id FROM entities ORDER BY +id")
            self._built = True
            order, ids = [np.zeros(0, np.int32)], [np.zeros(0, object)]
            for rows in _slices(cursor):
                at, part = self._set_base(rows)
                order.append(at.astype(np.int32))
                ids.append(np.asarray(part, dtype=object))
            self._sorted, self._sorted_ids = np.concatenate(order), np.concatenate(ids)
        if self._dirty:
            self._catch_up(conn)
        self._fit()

    def column(self, conn: sqlite3.Connection, kind: ColumnKind, name: str, sql: str,
               params: tuple[str, ...]) -> _Column:  # fmt: skip
        """The attribute column (read from every row on first use; `ready` first).

        GIL_SLICE rows at a time: the first use after a start or a rollback codes every
        entity's value, and one C loop over all of them (listing the rows' ids and values,
        coding the values) held the GIL up to ~14 ms at 200k entities while the serving
        loop waited; now ~0.3 ms. Codes come in order of first appearance and columns
        only widen, so the result is the one pass's."""
        found = self._columns.get((kind, name))
        if found is not None:
            return found
        numeric = kind == ColumnKind.NUMBER
        empty = np.zeros(0, np.float32 if numeric else np.int8)
        column = self._columns[(kind, name)] = _Column(sql, params, numeric, empty)
        column.grown(len(self._exists))
        cursor = conn.execute(f"SELECT e.id, {sql} FROM entities AS e", params)
        for rows in _slices(cursor):
            self._code([column], rows, 1)
        return column

    def existing(self, conn: sqlite3.Connection, ids: Sequence[str]) -> np.ndarray | None:
        """Whether each id has a row; None while the mirror is not built (ask SQLite).
        Lets the ingest path send SQLite only the rows it would really create."""
        slots = self._ready_slots(conn, ids)
        return None if slots is None else self._exists_at(slots)

    def of_kind(
        self, conn: sqlite3.Connection, ids: Sequence[str], kinds: Sequence[str]
    ) -> np.ndarray | None:
        """Whether each ids[i] has a row of kind kinds[i]; None while not built."""
        slots = self._ready_slots(conn, ids)
        if slots is None:
            return None
        wanted = np.fromiter(map(self._kinds.get, kinds, repeat(-2)), np.int16, len(kinds))
        return self._exists_at(slots) & (self._kind[np.maximum(slots, 0)] == wanted)

    def _ready_slots(self, conn: sqlite3.Connection, ids: Sequence[str]) -> np.ndarray | None:
        """The slots of ids (-1 unknown), caught up first; None while not built."""
        if not self._built:
            return None
        self.ready(conn)
        return self._slots.of(ids, add=False)

    def _exists_at(self, slots: np.ndarray) -> np.ndarray:
        return (slots >= 0) & self._exists[np.maximum(slots, 0)]

    def kind_names(self, slots: np.ndarray) -> np.ndarray:
        """Each slot's kind name (object array), "" where the slot has no row."""
        names = np.asarray(["", *self._kinds], dtype=object)  # code k is names[k + 1]
        return names[np.where(slots >= 0, self._kind[np.maximum(slots, 0)], -1) + 1]

    def kind_code(self, kind: str) -> int:
        return self._kinds.get(kind, -2)

    def kind_of(self, slots: np.ndarray) -> np.ndarray:
        return np.where(slots >= 0, self._kind[np.maximum(slots, 0)], -1)

    def account_of(self, slots: np.ndarray) -> np.ndarray:
        return np.where(slots >= 0, self._account[np.maximum(slots, 0)], -1)

    def population(self, kind: str) -> np.ndarray:
        """Slots of the stored entities of `kind`, ordered by id (as SQLite's ORDER BY;
        `ready` first: it reads the rows in that order and keeps it as rows come and go)."""
        assert self._sorted is not None, "ready() first"
        if self._order_stale:
            self._resorted()
        return self._sorted[self._kind[self._sorted] == self.kind_code(kind)]

    def _resorted(self) -> None:
        """The id order after rows came or went since it was last merged, on its first
        read since (a sweep's): the new ones merged in by binary search, the gone ones
        dropped. Rebuilding it would cost the sweep a sort of every stored id in Python
        (a second at a million); merging at each ingest that named a new entity copied
        the whole order, an object array of every id, once per batch on the writer."""
        assert self._sorted is not None and self._sorted_ids is not None
        order, ids = self._sorted, self._sorted_ids
        listed = np.zeros(len(self._exists), bool)
        listed[order] = True
        keep = self._exists[order]
        if not keep.all():
            order, ids = order[keep], ids[keep]
        came = np.flatnonzero(self._exists & ~listed)
        if len(came):
            new_ids = np.asarray(self._slots.strings(came), dtype=object)
            by_id = np.argsort(new_ids, kind="stable")
            at = np.searchsorted(ids, new_ids[by_id])
            order = np.insert(order, at, came[by_id].astype(np.int32))
            ids = np.insert(ids, at, new_ids[by_id])
        self._sorted, self._sorted_ids, self._order_stale = order, ids, False

    def members(self, accounts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots of the entities whose account is accounts[i], and i for each."""
        if self._by_account is None:
            has = np.flatnonzero(self._exists & (self._account >= 0))
            order = has[np.argsort(self._account[has], kind="stable")]
            counts = np.bincount(self._account[order], minlength=len(self._account))
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
            self._by_account, self._moved = (order.astype(np.int32), offsets), set()
        order, offsets = self._by_account
        owner = np.flatnonzero((accounts >= 0) & (accounts < len(offsets) - 1))
        starts, ends = offsets[accounts[owner]], offsets[accounts[owner] + 1]
        lengths = ends - starts
        rows = np.arange(int(lengths.sum()), dtype=np.int64)
        rows += np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        members, owners = order[rows].astype(np.int64), np.repeat(owner, lengths)
        if not self._moved:
            return members, owners
        # The index predates some changes: the slots that changed are dropped from what
        # it lists and found again where they now belong (few: the index is rebuilt once
        # they pass MOVED_SHARE of the slots).
        moved = np.fromiter(self._moved, np.int64, len(self._moved))
        keep = ~np.isin(members, moved)
        by_account = np.argsort(accounts, kind="stable")
        present = moved[self._exists[moved] & (self._account[moved] >= 0)]
        where = self._account[present]
        first = np.searchsorted(accounts[by_account], where, "left")
        last = np.searchsorted(accounts[by_account], where, "right")
        counts = last - first
        at = np.arange(int(counts.sum()), dtype=np.int64)
        at += np.repeat(first - (np.cumsum(counts) - counts), counts)
        members = np.concatenate([members[keep], np.repeat(present, counts)])
        owners = np.concatenate([owners[keep], by_account[at]])
        order_ = np.lexsort((members, owners))  # as the rebuilt index gives them
        return members[order_], owners[order_]

    def _note_moved(self, slots: np.ndarray) -> None:
        """Slots whose row came, went or changed account: the members index lists them
        apart until there are too many, then it is rebuilt."""
        if self._by_account is None or not len(slots):
            return
        self._moved.update(slots.tolist())
        if len(self._moved) > max(MOVED_MIN, len(self._exists) // MOVED_SHARE):
            self._by_account, self._moved = None, set()

    # -- inside

    def _set_base(self, rows: list[tuple[str, str, str]]) -> tuple[np.ndarray, list[str]]:
        """Kind and account of the rows read (ids, accounts get slots as needed); the
        rows' slots and ids."""
        ids = list(map(itemgetter(0), rows))
        at = self._slots.of(ids, add=True)
        accounts = list(map(itemgetter(2), rows))
        account = self._slots.of(accounts, add=True)
        kinds = list(map(itemgetter(1), rows))
        for kind in dict.fromkeys(kinds):
            self._kinds.setdefault(kind, len(self._kinds))
        self._fit()
        account[np.asarray(accounts, dtype=object) == ""] = -1
        self._exists[at] = True
        self._kind[at] = np.fromiter(map(self._kinds.__getitem__, kinds), np.int16, len(kinds))
        self._account[at] = account
        self._sorted, self._sorted_ids, self._by_account = None, None, None
        return at, ids

    def _catch_up(self, conn: sqlite3.Connection) -> None:
        """Reads the touched rows again, every kept column with them, GIL_SLICE ids per
        query: after a large upsert each C loop over every touched row (the ids' JSON,
        their slots, coding kinds, accounts and values) held the GIL for the whole lot,
        up to ~90 ms at 200k rows while the serving loop waited."""
        ids = list(self._dirty)
        self._dirty = {}
        columns = list(self._columns.values())
        sql = "".join(f", {c.sql}" for c in columns)
        params = [p for c in columns for p in c.params]
        query = (
            f"SELECT e.id, e.kind, e.account_id{sql} FROM json_each(?) AS j"
            " CROSS JOIN entities AS e ON e.id = j.value"
        )
        for at in range(0, len(ids), GIL_SLICE):
            part = ids[at : at + GIL_SLICE]
            self._apply(part, conn.execute(query, (*params, ids_json(part))).fetchall())

    def _apply(self, ids: Sequence[str], rows: Sequence[tuple[object, ...]]) -> None:
        """The rows of `ids` are `rows` (id, kind, account_id, then each kept column's
        value as its SQL reads it); an id without one has no row."""
        columns = list(self._columns.values())
        gone = self._slots.of(ids, add=True)
        self._fit()
        sorted_, sorted_ids, by_account = self._sorted, self._sorted_ids, self._by_account
        before = self._exists[gone].copy(), self._account[gone].copy()
        self._exists[gone] = False
        self._kind[gone] = -1
        self._account[gone] = -1
        for column in columns:
            column.clear(gone)
        self._set_base([r[:3] for r in rows])  # type: ignore[misc]
        self._code(columns, rows, 3)
        # The id order and the members index follow the rows that came, went or moved.
        self._sorted, self._sorted_ids, self._by_account = sorted_, sorted_ids, by_account
        came_or_went = before[0] != self._exists[gone]
        self._order_stale |= bool(came_or_went.any())
        self._note_moved(gone[came_or_went | (before[1] != self._account[gone])])

    def _code(self, columns: list[_Column], rows: Sequence[Sequence[Any]], first: int) -> None:
        """Each of `columns` at the slots of the rows' ids (their first value), from the
        rows' values `first` on, one value per column in order. Callers pass at most
        GIL_SLICE rows: each C loop here runs over all it is given."""
        at = self._slots.of(list(map(itemgetter(0), rows)), add=True)
        self._fit()
        for i, column in enumerate(columns, start=first):
            column.data[at] = column.code(list(map(itemgetter(i), rows)))

    def _fit(self) -> None:
        """Grows the arrays (by a quarter) to cover every slot."""
        n = len(self._slots)
        if n <= len(self._exists):
            return
        size = max(len(self._exists) + len(self._exists) // 4, n, 1024)
        more = size - len(self._exists)
        self._exists = np.concatenate([self._exists, np.zeros(more, bool)])
        self._kind = np.concatenate([self._kind, np.full(more, -1, np.int16)])
        self._account = np.concatenate([self._account, np.full(more, -1, np.int32)])
        for column in self._columns.values():
            column.grown(size)


def _slices(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    """The cursor's rows, GIL_SLICE at a time (what a C loop over them is given)."""
    while rows := cursor.fetchmany(GIL_SLICE):
        yield rows


__all__ = ["ColumnKind", "EntityMirror"]
