"""LiveEvents: an in-memory columnar copy of the stored events, kept in step with the
store by the writer, so rescoring never rereads raw event history from SQLite.

SQLite stays the durable log: this copy is built from it on start and follows every
committed change (appends on ingest, removals on erasure); a rolled-back transaction
rolls its appends back. It answers `load_events` with the store's contract (the stored
scorer cannot tell the two apart), so scores from it equal scores from SQLite.

Shape (an LSM tree): a main block sorted by (entity, ts, arrival) with an offsets array
per entity code, and a small tail that appends land in, one block per append; at each
commit the tail's blocks are sorted by entity (stable: arrival order kept within one)
and merged pairwise while the newer is at least half the older's size, so the tail
holds O(log n) blocks that a read binary-searches. The tail is merged into main (one
stable sort of the whole: main's rows arrived before the tail's, and older tail blocks
before newer ones, so a stable sort keeps arrival order on equal timestamps, as SQLite's
rowid does, with no arrival column) once it outgrows a fraction of main.

Reads go through an EventView (core.event_view): the writer's of its current state, and
the view it publishes after each commit for the reads served beside it (`published`,
`reads()`): those see the last committed events without a lock and without SQLite.

Per event, as narrow as the data allows with nothing lost (issue 12, S4 <= 64 B/event
with the mirrors): entity code int32, ts float64; event-name and string-property codes
in the smallest signed integer that holds their vocabulary (int8 for the bundled
profiles); value and numeric properties float32 when every value of the block is
exactly a float32 (counts, small amounts), float64 otherwise. Reads widen them back,
so the engine sees the same float64 numbers SQLite holds. One deviation: after an
identity merge (relabel), an event of the merged id at the very same ts as one of the
known id comes after it, whichever arrived first.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from itertools import compress, repeat
from typing import TypeVar

import numpy as np

from prioscore.server.core.event_view import Block, EventView, PublishedEvents
from prioscore.server.engine import EventColumns, map_entries
from prioscore.server.scoring import EventSource
from prioscore.server.store import SlotTable, Store, narrow_codes, narrow_floats

T = TypeVar("T")

TAIL_MIN = 65_536  # the tail is merged once it holds more than this and main / TAIL_SHARE
TAIL_SHARE = 8


class LiveEvents:
    """Every stored event's columns the loaded profiles read, by entity, in memory."""

    @classmethod
    def build(
        cls, store: Store, strings: Collection[str] = (), numbers: Collection[str] = ()
    ) -> LiveEvents:
        """The state of every event stored in `store` (read once, in rowid order), which
        publishes a view of itself after each of the store's commits (`published`)."""
        live = cls._read(store, strings, numbers)
        store.on_commit(live.publish)
        return live

    @classmethod
    def _read(cls, store: Store, strings: Collection[str], numbers: Collection[str]) -> LiveEvents:
        live = cls(strings, numbers, store.slots)
        live._store = store
        after = 0
        while True:
            rows, after = store.scan_events(live.strings, live.numbers, after=after)
            live.append_rows(rows)
            if not after:
                break
        live.merge()
        live.publish()
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
        self._main = Block.empty(self.strings, self.numbers)
        self._offsets = np.zeros(1, np.int64)  # main rows of entity code c: [o[c], o[c+1])
        self._tail: list[Block] = []
        self._tail_rows = 0
        self._moved_in_transaction = False  # relabel() moved committed rows (to the tail)
        self.published = self.view()  # the committed state, for reads beside the writer

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

    def view(self) -> EventView:
        """The current state (the open transaction's rows included), immutable: what
        the writer reads, and what it publishes once that state is committed."""
        return EventView(
            self._main, self._offsets, tuple(self._tail), self._entities, self._names, self._vocab
        )

    def publish(self) -> None:
        """Readers see the current state from now on: one reference swapped (after a
        commit, or after a change made outside any transaction). The tail is compacted
        first: what is committed can no longer be rolled back, so it is sorted."""
        self._compact()
        self._moved_in_transaction = False
        self.published = self.view()

    def _compact(self) -> None:
        """Committed tail blocks sorted by entity, and merged pairwise while the newer of
        the last two is at least half the older's size (a binary counter: O(log n)
        blocks, each row copied O(log n) times): a read costs a binary search per
        block, where concatenating one block per ingest batch on every read grew with
        the batches since the last merge (45% of a one-event ingest at 10k contacts)."""
        tail = [block.sorted_by_entity() for block in self._tail]
        while len(tail) >= 2 and 2 * len(tail[-1]) >= len(tail[-2]):
            newer = tail.pop()
            tail[-1] = Block.concat([tail[-1], newer]).sorted_by_entity()
        self._tail = tail

    def reads(self, fallback: EventSource) -> PublishedEvents:
        """The event source of reads served beside the writer (see PublishedEvents)."""
        return PublishedEvents(lambda: self.published, fallback)

    def _changed(self) -> None:
        """Publishes a change made outside a transaction (a purge after its commit, a
        reload after a rollback); inside one, the commit publishes it."""
        if self._store is None or not self._store.in_transaction:
            self.publish()

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
        rollback(). Properties and metrics are per event, as IncomingEvents has them:
        each kept property is picked out of one C-level pass over every event's keys
        (most events carry one or two of the ten-odd kept properties, so a look-up per
        kept property per event cost more than the rest of the append)."""
        n = len(entity_ids)
        given = _kept(properties, self.strings)
        measured = _kept(metrics, self.strings + self.numbers)
        strings = {}
        for s in self.strings:
            at, texts = given[s]
            # A metric of the name stands in as its JSON text; given both, the metric
            # is what the stored JSON holds (properties_json merges metrics last).
            measured_at, numbers = measured[s]
            if len(measured_at):
                kept = ~np.isin(at, measured_at)
                at = np.concatenate([at[kept], measured_at])
                texts = [*compress(texts, kept), *map(repr, map(float, numbers))]
            strings[s] = self._sparse_codes(self._vocab[s], n, at, texts)
        number_columns = {}
        for s in self.numbers:
            at, numbers = measured[s]
            column = np.full(n, math.nan)
            column[at] = np.asarray(numbers, np.float64)
            number_columns[s] = narrow_floats(column)
        return self._append_block(
            self._entities.code_all(entity_ids),
            _codes(self._names, names),
            ts,
            value,
            strings,
            number_columns,
        )

    @staticmethod
    def _sparse_codes(
        vocabulary: SlotTable, n: int, at: np.ndarray, texts: Sequence[str]
    ) -> np.ndarray:
        """Codes of n events of which those `at` have `texts` (-1 elsewhere), coded in
        event order, as a full column would be."""
        order = np.argsort(at, kind="stable")
        codes = np.full(n, -1, np.int64)
        if len(at):
            codes[at[order]] = vocabulary.of(list(map(texts.__getitem__, order.tolist())), add=True)
        return narrow_codes(codes, len(vocabulary))

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
        return self._append_block(
            self._entities.code_all(entity_ids),
            _codes(self._names, names),
            ts,
            value,
            {s: _codes(self._vocab[s], strings[s]) for s in self.strings},
            {s: narrow_floats(numbers[s]) for s in self.numbers},
        )

    def _append_block(
        self,
        entities: np.ndarray,
        names: np.ndarray,
        ts: np.ndarray,
        value: np.ndarray,
        strings: dict[str, np.ndarray],
        numbers: dict[str, np.ndarray],
    ) -> int:
        mark = len(self)
        if len(entities) == 0:
            return mark
        ts, value = np.asarray(ts, np.float64), narrow_floats(value)
        self._tail.append(Block(entities, names, ts, value, strings, numbers))
        self._tail_rows += len(entities)
        self._changed()
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
        """Drops what was appended after `mark` (len() before the transaction, or what
        append() returned) when the transaction did not commit. Rows merged into main
        since (a merge, relabel or erasure inside it) cannot be told apart there: then
        the committed state is read again from the store."""
        if mark < len(self._main) or self._moved_in_transaction:
            self.reload()
            return
        keep = mark - len(self._main)
        while self._tail_rows > keep:
            block = self._tail.pop()
            self._tail_rows -= len(block)
            if self._tail_rows < keep:  # the mark fell inside this block
                if block.by_entity:  # committed and sorted (never, for a mark of a
                    self.reload()  # transaction's start): its arrival order is gone
                    return
                self._tail.append(block.take(np.arange(keep - self._tail_rows)))
                self._tail_rows = keep
        self._changed()

    def erase(self, entity_ids: Collection[str]) -> None:
        """Removes every event of the entities (after an erasure committed)."""
        codes = [self._entities.codes[i] for i in entity_ids if i in self._entities.codes]
        if not codes:
            return
        self._take_out(np.asarray(codes, np.int64))
        self._changed()

    def _take_out(self, codes: np.ndarray) -> list[Block]:
        """Removes the rows of entity `codes` from main (their ranges, by the offsets)
        and from each tail block, and returns them. Every other row stays where it is:
        merging the tail into main and sorting every row again, as an erasure and an
        identity merge did, took ~1 s at 200k entities (2M events) against ~10 ms at
        2k, and an ingest batch carrying one merge paid it."""
        codes = np.unique(codes)
        taken: list[Block] = []
        codes_in_main = codes[codes < len(self._offsets) - 1]
        starts = self._offsets[codes_in_main]
        lengths = self._offsets[codes_in_main + 1] - starts
        if lengths.sum():
            # The ranges' rows in one vectorised step: each start repeated over its range.
            first = np.cumsum(lengths) - lengths
            rows = np.repeat(starts - first, lengths) + np.arange(int(lengths.sum()))
            taken.append(self._main.take(rows))
            keep = np.ones(len(self._main), bool)
            keep[rows] = False
            self._set_main(self._main.take(np.flatnonzero(keep)))
        tail = []
        for block in self._tail:  # O(log n) blocks
            hit = np.isin(block.entity, codes)
            if hit.any():
                taken.append(block.take(np.flatnonzero(hit)))
                block = replace(block.take(np.flatnonzero(~hit)), by_entity=block.by_entity)
            if len(block):
                tail.append(block)
        self._tail, self._tail_rows = tail, sum(map(len, tail))
        return taken

    def reload(self) -> None:
        """Reads everything again from the store (after a transaction that changed this
        state in a way rollback() cannot undo, e.g. an erasure, did not commit)."""
        self._widen((), ())

    def _widen(self, strings: Collection[str], numbers: Collection[str]) -> None:
        """A profile (reloaded, staged) reads a property this state does not keep: read
        everything again from the store, keeping the new properties too."""
        if self._store is None:
            raise KeyError(f"live state does not keep {sorted({*strings, *numbers})}")
        wider = LiveEvents._read(self._store, {*self.strings, *strings}, {*self.numbers, *numbers})
        self.__dict__.update(wider.__dict__)
        self._changed()

    def relabel(self, merges: Sequence[tuple[str, str]]) -> None:
        """Identity merges: the events of each merged id become the known id's (as the
        store moved them): taken out of main and the tail, relabelled, and appended as
        one tail block, which the commit sorts into place."""
        known = self._entities.codes
        moves = [(known[a], b) for a, b in merges if a in known and a != b]
        if not moves:
            return
        merged = np.asarray([a for a, _ in moves], np.int64)
        into = self._entities.code_all([b for _, b in moves]).astype(np.int32)
        order = np.argsort(merged, kind="stable")
        merged, into = merged[order], into[order]
        moved = self._take_out(merged)
        if moved:  # new arrays: a published view holds the blocks they came from
            block = Block.concat(moved)
            block = replace(block, entity=into[np.searchsorted(merged, block.entity)])
            self._tail.append(block)
            self._tail_rows += len(block)
        if self._store is not None and self._store.in_transaction:
            self._moved_in_transaction = True  # rollback() cannot cut this back
        self._changed()

    def drop_before(self, cutoff: float) -> None:
        """Removes the events older than `cutoff` (the retention window's purge)."""
        self.merge()
        if len(self._main) and self._main.ts.min() < cutoff:
            self._set_main(self._main.take(np.flatnonzero(self._main.ts >= cutoff)))
            self._changed()

    def merge(self) -> None:
        """Sorts the tail into main (after a bulk load; also when the tail grows)."""
        if not self._tail:
            return
        both = Block.concat([self._main, *self._tail])
        order = np.lexsort((both.ts, both.entity))
        self._tail, self._tail_rows = [], 0
        self._set_main(both.take(order))

    def _set_main(self, block: Block) -> None:
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
        where absent (EventView.load_events, over the current state)."""
        if self._tail_rows > max(TAIL_MIN, len(self._main) // TAIL_SHARE):
            self.merge()
        if not self.covers(string_properties, numeric_properties):
            self._widen(string_properties, numeric_properties)
        return self.view().load_events(
            entity_ids, event_types, string_properties, numeric_properties, until
        )


def _codes(vocabulary: SlotTable, values: Sequence[str | None]) -> np.ndarray:
    """Narrow codes of `values` (new ones added, None -1)."""
    return narrow_codes(vocabulary.of(values, add=True), len(vocabulary))  # type: ignore[arg-type]


def _kept(
    per_event: Sequence[Mapping[str, T]], kept: tuple[str, ...]
) -> dict[str, tuple[np.ndarray, list[T]]]:
    """For each kept key: the positions of the events that have it and its values
    there, in event order, from one C-level pass over all the events' keys."""
    entries = map_entries(per_event)
    if not entries.keys:
        return {key: (np.zeros(0, np.int64), []) for key in kept}
    index = {key: j for j, key in enumerate(kept)}
    which = np.fromiter(map(index.get, entries.keys, repeat(-1)), np.int64, len(entries.keys))
    out = {}
    for j, key in enumerate(kept):
        hits = np.flatnonzero(which == j)
        out[key] = (entries.owner[hits], list(map(entries.values.__getitem__, hits.tolist())))
    return out


__all__ = ["LiveEvents"]
