"""Reads of the events table: the columns a profile reads for some entities
(load_events, what the stored scorer reads when it does not read the live state), the
whole table in arrival order (scan_events, what the live state is built from on start),
and which message ids are stored already (what ingest's dedupe will skip).

A mixin of Store: it uses the connection and lock Store owns.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from prioscore.server.engine import EventColumns
from prioscore.server.store.records import categorical, floats, ids_json, json_path, ordered


class EventReads:
    """load_events, scan_events, known_message_ids."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        _lock: threading.RLock

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

    def scan_events(
        self,
        string_properties: Sequence[str],
        numeric_properties: Sequence[str],
        *,
        after: int = 0,
        limit: int = 200_000,
    ) -> tuple[list[tuple[Any, ...]], int]:
        """Up to `limit` stored events after rowid `after`, in rowid (arrival) order, as
        (entity_id, event, ts, value, *string properties, *numeric properties) with the
        properties read as load_events reads them; and the last rowid read (0: done).
        What the live state is built from on start."""
        columns = ["rowid", "entity_id", "event", "ts", "COALESCE(value, 1.0)"]
        params: list[Any] = []
        for s in string_properties:
            columns.append("CAST(json_extract(properties, ?) AS TEXT)")
            params.append(json_path(s))
        for s in numeric_properties:
            columns.append(
                "CASE WHEN json_type(properties, ?) IN ('integer', 'real')"
                " THEN json_extract(properties, ?) END"
            )
            params += [json_path(s), json_path(s)]
        sql = f"SELECT {', '.join(columns)} FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?"
        with self._lock:
            rows = self.conn.execute(sql, [*params, int(after), int(limit)]).fetchall()
        if not rows:
            return [], 0
        return [r[1:] for r in rows], int(rows[-1][0])

    def known_message_ids(self, message_ids: Sequence[str]) -> set[str]:
        """Which of message_ids are stored already (what INSERT OR IGNORE will skip)."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT e.message_id FROM json_each(?) AS j"
                " JOIN events AS e ON e.message_id = j.value",
                (ids_json(message_ids),),
            ).fetchall()
        return {r[0] for r in rows}


__all__ = ["EventReads"]
