"""LiveEvents: an in-memory columnar copy of the stored events, kept in step with the
store by the writer, so rescoring never rereads raw event history from SQLite.

SQLite stays the durable log: this copy is built from it on start and follows every
committed change (appends on ingest, removals on erasure); a rolled-back transaction
rolls its appends back. It answers `load_events` with the store's contract (the stored
scorer cannot tell the two apart), so scores from it equal scores from SQLite.

Shape (an LSM tree of two levels): a main block sorted by (entity, ts, arrival) with an
offsets array per entity code, and a small unsorted tail that appends land in; the tail
is merged into main (one stable sort of the whole: main's rows arrived before the
tail's, so a stable sort keeps arrival order on equal timestamps, as SQLite's rowid
does, with no arrival column) once it outgrows a fraction of main.

Per event, as narrow as the data allows with nothing lost (issue 12, S4 <= 64 B/event
with the mirrors): entity code int32, ts float64; event-name and string-property codes
in the smallest signed integer that holds their vocabulary (int8 for the bundled
profiles); value and numeric properties float32 when every value of the block is
exactly a float32 (counts, small amounts), float64 otherwise. Reads widen them back,
so the engine sees the same float64 numbers SQLite holds. One deviation: after an
identity merge (relabel), two events of the merged entities at the very same ts keep
the order of their former entities, not their arrival order.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import is_not, methodcaller

import numpy as np

from prioscore.server.engine import CategoricalColumn, EventColumns
from prioscore.server.store import SlotTable, Store, narrow_codes, narrow_floats, ordered

TAIL_MIN = 65_536  # the tail is merged once it holds more than this and main / TAIL_SHARE
TAIL_SHARE = 8


@dataclass
class _Block:
    """Event columns, rows in arrival order within a tail block, sorted in main."""

    entity: np.ndarray  # int32 entity code
    name: np.ndarray  # event-name code (narrow_codes)
    ts: np.ndarray  # float64
    value: np.ndarray  # narrow_floats
    strings: dict[str, np.ndarray]  # code into the property's vocabulary, -1 absent
    numbers: dict[str, np.ndarray]  # narrow_floats, NaN absent

    @staticmethod
    def empty(strings: Sequence[str], numbers: Sequence[str]) -> _Block:
        i8, i32 = np.empty(0, np.int8), np.empty(0, np.int32)
        f32, f64 = np.empty(0, np.float32), np.empty(0, np.float64)
        return _Block(
            i32, i8, f64, f32, {s: i8 for s in strings}, {s: f32 for s in numbers}
        )  # fmt: skip

    def __len__(self) -> int:
        return int(self.entity.shape[0])

    def take(
        self,
        rows: np.ndarray,
        strings: Collection[str] | None = None,
        numbers: Collection[str] | None = None,
    ) -> _Block:
        """The rows, with only the named properties (all when None): a read copies just
        what its profile reads, not every column some loaded profile does."""
        strings = self.strings if strings is None else strings
        numbers = self.numbers if numbers is None else numbers
        return _Block(
            self.entity[rows], self.name[rows], self.ts[rows], self.value[rows],
            {k: self.strings[k][rows] for k in strings},
            {k: self.numbers[k][rows] for k in numbers},
        )  # fmt: skip

    def wanted(self, rows: np.ndarray, types: np.ndarray, until: float | None) -> np.ndarray:
        """Which of `rows` a read keeps: a wanted event type (types[name] >= 0), not
        after `until`."""
        keep = types[self.name[rows]] >= 0
        if until is not None:
            keep &= self.ts[rows] <= until
        return keep

    @staticmethod
    def concat(blocks: Sequence[_Block]) -> _Block:
        first = blocks[0]
        return _Block(
            np.concatenate([b.entity for b in blocks]),
            np.concatenate([b.name for b in blocks]),
            np.concatenate([b.ts for b in blocks]),
            np.concatenate([b.value for b in blocks]),
            {k: np.concatenate([b.strings[k] for b in blocks]) for k in first.strings},
            {k: np.concatenate([b.numbers[k] for b in blocks]) for k in first.numbers},
        )


class LiveEvents:
    """Every stored event's columns the loaded profiles read, by entity, in memory."""

    @classmethod
    def build(
        cls, store: Store, strings: Collection[str] = (), numbers: Collection[str] = ()
    ) -> LiveEvents:
        """The state of every event stored in `store` (read once, in rowid order)."""
        live = cls(strings, numbers, store.slots)
        live._store = store
        after = 0
        while True:
            rows, after = store.scan_events(live.strings, live.numbers, after=after)
            live.append_rows(rows)
            if not after:
                break
        live.merge()
        return live

    def __init__(
        self,
        strings: Collection[str] = (),
        numbers: Collection[str] = (),
        entities: SlotTable | None = None,
    ) -> None:
        """`entities`: the slot table whose slots are the entity codes (the store's, so
        a chunk of the sweep arrives with its codes; a table of its own when None)."""
        self._store: Store | None = None
        self.strings = tuple(sorted(set(strings)))
        self.numbers = tuple(sorted(set(numbers)))
        self._entities = entities if entities is not None else SlotTable()
        # Event names and each string property's values, coded in first-seen order.
        self._names = SlotTable()
        self._vocab = {s: SlotTable() for s in self.strings}
        self._main = _Block.empty(self.strings, self.numbers)
        self._offsets = np.zeros(1, np.int64)  # main rows of entity code c: [o[c], o[c+1])
        self._tail: list[_Block] = []
        self._tail_rows = 0

    # -- what it holds

    def covers(self, strings: Collection[str], numbers: Collection[str]) -> bool:
        """Whether the properties a profile reads are all kept (else rebuild from SQLite)."""
        return set(strings) <= set(self.strings) and set(numbers) <= set(self.numbers)

    def __len__(self) -> int:
        return len(self._main) + self._tail_rows

    @property
    def nbytes(self) -> int:
        """Bytes of the event columns and offsets (dictionaries not counted)."""
        blocks = [self._main, *self._tail]
        arrays = [a for b in blocks for a in (b.entity, b.name, b.ts, b.value)]
        arrays += [a for b in blocks for a in (*b.strings.values(), *b.numbers.values())]
        return sum(a.nbytes for a in arrays) + self._offsets.nbytes

    # -- changes (the writer only)

    def append(
        self,
        entity_ids: Sequence[str],
        names: Sequence[str],
        ts: np.ndarray,
        value: np.ndarray,
        properties: Sequence[Mapping[str, str]],
        metrics: Sequence[Mapping[str, float]],
    ) -> int:
        """Adds events (already stored, or in the open transaction); returns a mark for
        rollback(). Properties and metrics are per event, as IncomingEvents has them."""
        strings = {s: _texts(s, properties, metrics) for s in self.strings}
        numbers = {
            s: np.fromiter(map(methodcaller("get", s, math.nan), metrics), np.float64, len(metrics))
            for s in self.numbers
        }
        return self.append_columns(entity_ids, names, ts, value, strings, numbers)

    def append_columns(
        self,
        entity_ids: Sequence[str],
        names: Sequence[str],
        ts: np.ndarray,
        value: np.ndarray,
        strings: Mapping[str, Sequence[str | None]],
        numbers: Mapping[str, np.ndarray],
    ) -> int:
        """append() by columns: every kept property's values per event (None or NaN
        where absent), as SQLite reads them back."""
        mark = self._tail_rows
        n = len(entity_ids)
        if n == 0:
            return mark
        self._tail.append(
            _Block(
                self._entities.code_all(entity_ids),
                _codes(self._names, names),
                np.asarray(ts, np.float64),
                narrow_floats(value),
                {s: _codes(self._vocab[s], strings[s]) for s in self.strings},
                {s: narrow_floats(numbers[s]) for s in self.numbers},
            )
        )
        self._tail_rows += n
        return mark

    def append_rows(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Adds rows read from SQLite: (entity_id, event, ts, value, *strings, *numbers)
        in the order of self.strings then self.numbers (Store.scan_events)."""
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        k = len(self.strings)
        self.append_columns(
            columns[0],  # type: ignore[arg-type]
            columns[1],  # type: ignore[arg-type]
            np.asarray(columns[2], np.float64),
            np.asarray(columns[3], np.float64),
            dict(zip(self.strings, columns[4 : 4 + k], strict=True)),  # type: ignore[arg-type]
            {
                s: np.array(c, dtype=np.float64)  # None -> NaN
                for s, c in zip(self.numbers, columns[4 + k :], strict=True)
            },
        )

    def rollback(self, mark: int) -> None:
        """Drops what was appended after `mark` (a transaction that did not commit)."""
        while self._tail_rows > mark:
            block = self._tail.pop()
            self._tail_rows -= len(block)
            if self._tail_rows < mark:  # the mark fell inside this block
                self._tail.append(block.take(np.arange(mark - self._tail_rows)))
                self._tail_rows = mark

    def erase(self, entity_ids: Collection[str]) -> None:
        """Removes every event of the entities (after an erasure committed)."""
        codes = [self._entities.codes[i] for i in entity_ids if i in self._entities.codes]
        if not codes:
            return
        self.merge()
        keep = ~np.isin(self._main.entity, np.asarray(codes, np.int32))
        self._set_main(self._main.take(np.flatnonzero(keep)))

    def reload(self) -> None:
        """Reads everything again from the store (after a transaction that changed this
        state in a way rollback() cannot undo, e.g. an erasure, did not commit)."""
        self._widen((), ())

    def _widen(self, strings: Collection[str], numbers: Collection[str]) -> None:
        """A profile (reloaded, staged) reads a property this state does not keep: read
        everything again from the store, keeping the new properties too."""
        if self._store is None:
            raise KeyError(f"live state does not keep {sorted({*strings, *numbers})}")
        wider = LiveEvents.build(self._store, {*self.strings, *strings}, {*self.numbers, *numbers})
        self.__dict__.update(wider.__dict__)

    def relabel(self, merges: Sequence[tuple[str, str]]) -> None:
        """Identity merges: the events of each merged id become the known id's (as the
        store moved them), re-sorted into the known entity's slice."""
        known = self._entities.codes
        moves = [(known[a], b) for a, b in merges if a in known and a != b]
        if not moves:
            return
        self.merge()
        remap = np.arange(len(self._entities.values), dtype=np.int32)
        into = self._entities.code_all([b for _, b in moves])
        remap[np.asarray([a for a, _ in moves], np.int64)] = into
        remap = np.concatenate([remap, np.arange(len(remap), len(self._entities.values))])
        main = self._main
        main.entity = remap[main.entity].astype(np.int32)
        self._set_main(main.take(np.lexsort((main.ts, main.entity))))

    def drop_before(self, cutoff: float) -> None:
        """Removes the events older than `cutoff` (the retention window's purge)."""
        self.merge()
        if len(self._main) and self._main.ts.min() < cutoff:
            self._set_main(self._main.take(np.flatnonzero(self._main.ts >= cutoff)))

    def merge(self) -> None:
        """Sorts the tail into main (after a bulk load; also when the tail grows)."""
        if not self._tail:
            return
        both = _Block.concat([self._main, *self._tail])
        order = np.lexsort((both.ts, both.entity))
        self._tail, self._tail_rows = [], 0
        self._set_main(both.take(order))

    def _set_main(self, block: _Block) -> None:
        self._main = block
        n_codes = len(self._entities.values)
        counts = np.bincount(block.entity, minlength=n_codes)
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    # -- reads

    def load_events(
        self,
        entity_ids: Sequence[str],
        event_types: Collection[str],
        string_properties: Collection[str] = (),
        numeric_properties: Collection[str] = (),
        until: float | None = None,
    ) -> EventColumns:
        """Store.load_events' contract, from memory: entity = position in entity_ids,
        event_type = position in the ordered event_types, rows grouped by entity with ts
        ascending (arrival order on ties); strings as CategoricalColumn, numbers NaN
        where absent."""
        if self._tail_rows > max(TAIL_MIN, len(self._main) // TAIL_SHARE):
            self.merge()
        types = ordered(event_types)
        strings, numbers = ordered(string_properties), ordered(numeric_properties)
        if not self.covers(strings, numbers):
            self._widen(strings, numbers)
        codes = self._entities.of(entity_ids, add=False)
        position = np.full(len(self._entities.values), -1, np.int64)
        present = np.flatnonzero(codes >= 0)
        position[codes[present]] = present
        name_to_type = np.full(len(self._names.values), -1, np.int32)
        for i, name in enumerate(types):
            code = self._names.codes.get(name)
            if code is not None:
                name_to_type[code] = i
        picked = self._pick(codes[present], position, name_to_type, until, strings, numbers)
        return EventColumns(
            entity=position[picked.entity],
            event_type=name_to_type[picked.name],
            ts=picked.ts,
            value=picked.value.astype(np.float64),
            event_types=types,
            strings={s: self._column(s, picked.strings[s]) for s in strings},
            numbers={s: picked.numbers[s].astype(np.float64) for s in numbers},
        )

    def _pick(
        self,
        codes: np.ndarray,
        position: np.ndarray,
        types: np.ndarray,
        until: float | None,
        strings: Collection[str],
        numbers: Collection[str],
    ) -> _Block:
        """Wanted events (_Block.wanted) of entity `codes`, ordered by (position of the
        entity, ts, arrival), with the named properties only."""
        main = self._main
        main_codes = codes[codes < len(self._offsets) - 1]
        starts, ends = self._offsets[main_codes], self._offsets[main_codes + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        # Concatenated ranges [start, end) without a Python loop: a running index minus
        # each range's offset in the output, plus its start.
        rows = np.arange(total, dtype=np.int64)
        if total:
            rows += np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        picked = main.take(rows[main.wanted(rows, types, until)], strings, numbers)
        if not self._tail:
            return picked
        tail = _Block.concat(self._tail)
        mine = np.flatnonzero(position[tail.entity] >= 0)
        mine = mine[tail.wanted(mine, types, until)]
        if not len(mine):
            return picked
        both = _Block.concat([picked, tail.take(mine, strings, numbers)])
        return both.take(np.lexsort((both.ts, position[both.entity])))

    def _column(self, prop: str, codes: np.ndarray) -> CategoricalColumn:
        """The property's codes with a vocabulary of just the values present, so the
        engine's lookups cost what the request holds, not what the store ever saw."""
        values = self._vocab[prop].values
        # Codes present by a count (O(n), no sort); -1 (absent) counts at 0, stays -1.
        counts = np.bincount(codes.astype(np.intp) + 1, minlength=len(values) + 1)
        present = np.flatnonzero(counts[1:])
        table = np.full(len(values) + 1, -1, np.int32)  # codes[-1] lands on the last: -1
        table[present] = np.arange(len(present), dtype=np.int32)
        return CategoricalColumn(table[codes], tuple(values[c] for c in present.tolist()))


def _codes(vocabulary: SlotTable, values: Sequence[str | None]) -> np.ndarray:
    """Narrow codes of `values` (new ones added, None -1)."""
    return narrow_codes(vocabulary.of(values, add=True), len(vocabulary))  # type: ignore[arg-type]


def _texts(
    prop: str, properties: Sequence[Mapping[str, str]], metrics: Sequence[Mapping[str, float]]
) -> list[str | None]:
    """A string property per event as the store reads it back (a metric's number as its
    JSON text), None where the event has neither: C-level lookups, a Python step only
    per event whose metric stands in."""
    texts: list[str | None] = list(map(methodcaller("get", prop), properties))
    numbers = list(map(methodcaller("get", prop), metrics))
    given = np.fromiter(map(is_not, numbers, repeat(None)), bool, len(numbers))
    for i in np.flatnonzero(given).tolist():
        if texts[i] is None:
            texts[i] = repr(float(numbers[i]))
    return texts


__all__ = ["LiveEvents"]
