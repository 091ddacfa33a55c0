"""EventView: one immutable state of the live events, and the reads of it.

LiveEvents (the writer's) changes; a view of it never does. The writer reads a view of
its current state (uncommitted rows of its open transaction included) and, after every
commit, publishes a view of the committed state that reads served beside it take
(PublishedEvents): one reference swapped, no copy of any event column, so readers never
take the writer's lock and never wait for it (LIVE_CORE.md, invariant 3). A view shares
its arrays with LiveEvents, which replaces arrays and never writes into one a view holds.
Its dictionaries (entity slots, event names, property values) only ever grow, so a view
reads them as they are now and ignores the codes added after it was taken.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

import numpy as np

from prioscore.server.engine import CategoricalColumn, EventColumns
from prioscore.server.scoring import EventSource
from prioscore.server.store import SlotTable, ordered

# A vocabulary this small goes to the engine whole, whatever the request holds.
SMALL_VOCABULARY = 64


@dataclass
class Block:
    """Event columns, rows in arrival order within a tail block, sorted in main."""

    entity: np.ndarray  # int32 entity code
    name: np.ndarray  # event-name code (narrow_codes)
    ts: np.ndarray  # float64
    value: np.ndarray  # narrow_floats
    strings: dict[str, np.ndarray]  # code into the property's vocabulary, -1 absent
    numbers: dict[str, np.ndarray]  # narrow_floats, NaN absent
    # Rows sorted by entity (arrival order within one): a committed tail block, which
    # a read finds its entities in by binary search instead of a scan of every row.
    by_entity: bool = False
    # (ts, its latest time), computed on first use: arrays are replaced, never written
    # into (EventView), so it holds while `ts` is the same array.
    _latest: tuple[np.ndarray, float] | None = field(default=None, repr=False, compare=False)

    @staticmethod
    def empty(strings: Sequence[str], numbers: Sequence[str]) -> Block:
        i8, i32 = np.empty(0, np.int8), np.empty(0, np.int32)
        f32, f64 = np.empty(0, np.float32), np.empty(0, np.float64)
        return Block(
            i32, i8, f64, f32, {s: i8 for s in strings}, {s: f32 for s in numbers}
        )  # fmt: skip

    def __len__(self) -> int:
        return int(self.entity.shape[0])

    def take(
        self,
        rows: np.ndarray,
        strings: Collection[str] | None = None,
        numbers: Collection[str] | None = None,
    ) -> Block:
        """The rows, with only the named properties (all when None): a read copies just
        what its profile reads, not every column some loaded profile does."""
        strings = self.strings if strings is None else strings
        numbers = self.numbers if numbers is None else numbers
        return Block(
            self.entity[rows], self.name[rows], self.ts[rows], self.value[rows],
            {k: self.strings[k][rows] for k in strings},
            {k: self.numbers[k][rows] for k in numbers},
        )  # fmt: skip

    def pick(
        self,
        rows: np.ndarray,
        types: np.ndarray,
        until: float | None,
        properties: tuple[Collection[str], Collection[str]],
    ) -> tuple[Block, np.ndarray]:
        """The rows of `rows` a read keeps (a wanted event type: types[name] >= 0; not
        after `until`) with the named (strings, numbers) properties only, and which of
        `rows` they are (a mask).

        Each gather at scattered rows is a cache miss per entity and column (a sweep's
        chunk reads half the main block's rows in id order, not in slot order), so none
        is made twice: the names the check reads are compacted, not gathered again; the
        time check is skipped when no row of the block is after `until` (a sweep's is
        now); and nothing is compacted when every row is kept."""
        names = self.name[rows]
        keep = types[names] >= 0
        if until is not None and until < self.latest():
            keep &= self.ts[rows] <= until
        if not keep.all():
            rows, names = rows[keep], names[keep]
        strings, numbers = properties
        return Block(
            self.entity[rows], names, self.ts[rows], self.value[rows],
            {k: self.strings[k][rows] for k in strings},
            {k: self.numbers[k][rows] for k in numbers},
        ), keep  # fmt: skip

    def latest(self) -> float:
        """The latest event time in the block (-inf when empty)."""
        if self._latest is None or self._latest[0] is not self.ts:
            latest = float(self.ts.max()) if len(self.ts) else float("-inf")
            self._latest = (self.ts, latest)
        return self._latest[1]

    @staticmethod
    def concat(blocks: Sequence[Block]) -> Block:
        first = blocks[0]
        return Block(
            np.concatenate([b.entity for b in blocks]),
            np.concatenate([b.name for b in blocks]),
            np.concatenate([b.ts for b in blocks]),
            np.concatenate([b.value for b in blocks]),
            {k: np.concatenate([b.strings[k] for b in blocks]) for k in first.strings},
            {k: np.concatenate([b.numbers[k] for b in blocks]) for k in first.numbers},
        )

    def sorted_by_entity(self) -> Block:
        """The rows by entity, arrival order kept within each (a stable sort)."""
        if self.by_entity:
            return self
        block = self.take(np.argsort(self.entity, kind="stable"))
        block.by_entity = True
        return block

    def rows_of(self, by_code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, i): the rows of entity by_code[i] (by_code sorted), in arrival order
        per entity: binary searches when sorted by entity, else one pass over the rows."""
        if not len(by_code):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.by_entity:
            starts = np.searchsorted(self.entity, by_code, "left")
            lengths = np.searchsorted(self.entity, by_code, "right") - starts
            return _ranges(starts, lengths), np.repeat(np.arange(len(by_code)), lengths)
        at = np.minimum(np.searchsorted(by_code, self.entity), len(by_code) - 1)
        mine = np.flatnonzero(by_code[at] == self.entity)
        return mine, at[mine]


# Event-name code -> position in a read's event types, per names table and event types
# (a profile's): a table's codes never change and only grow, so the table built for the
# names known now stays true until a name is added; it goes with its names table. Built
# once per profile and new event name, not per read.
_NAME_TYPES: WeakKeyDictionary[SlotTable, dict[tuple[str, ...], np.ndarray]] = WeakKeyDictionary()


def _name_to_type(names: SlotTable, types: tuple[str, ...]) -> np.ndarray:
    """int32 by event-name code: the name's position in `types`, -1 for any other name
    (read-only: shared by every read with these types)."""
    n_names = len(names.values)  # before the codes: a later name is in no block
    known = _NAME_TYPES.get(names)
    if known is None:
        known = _NAME_TYPES.setdefault(names, {})
    table = known.get(types)
    if table is None or len(table) != n_names:
        table = np.full(n_names, -1, np.int32)
        for i, name in enumerate(types):
            code = names.codes.get(name, n_names)
            if code < n_names:
                table[code] = i
        table.flags.writeable = False
        known[types] = table
    return table


# store.ordered of the (frozen) name sets a read is given, which are a profile's: sorted
# once per set, not on every read. Bounded: cleared when full.
_ORDERED: dict[Collection[str], tuple[str, ...]] = {}
_ORDERED_KEPT = 256


def _ordered(values: Collection[str]) -> tuple[str, ...]:
    """ordered(values), remembered for hashable sets and tuples (a list is not)."""
    if not isinstance(values, (frozenset, tuple)):
        return ordered(values)
    found = _ORDERED.get(values)
    if found is None:
        if len(_ORDERED) >= _ORDERED_KEPT:
            _ORDERED.clear()
        found = _ORDERED[values] = ordered(values)
    return found


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ranges [start, start + length) without a Python loop: a running
    index minus each range's offset in the output, plus its start."""
    rows = np.arange(int(lengths.sum()), dtype=np.int64)
    if len(rows):
        rows += np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return rows


class EventView:
    """The live events as they were when the view was taken; answers load_events."""

    __slots__ = (
        "entities", "main", "names", "numbers", "offsets", "strings", "tail", "vocab"
    )  # fmt: skip

    def __init__(
        self,
        main: Block,
        offsets: np.ndarray,
        tail: tuple[Block, ...],
        entities: SlotTable,
        names: SlotTable,
        vocab: dict[str, SlotTable],
    ) -> None:
        self.main = main
        self.offsets = offsets  # main rows of entity code c: [o[c], o[c+1])
        self.tail = tail
        self.entities = entities
        self.names = names
        self.vocab = vocab
        self.strings = tuple(vocab)
        self.numbers = tuple(main.numbers)

    def covers(self, strings: Collection[str], numbers: Collection[str]) -> bool:
        """Whether the properties a profile reads are all kept."""
        return set(strings) <= set(self.strings) and set(numbers) <= set(self.numbers)

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
        where absent. Costs what the entities hold (and the tail), not the population."""
        types = _ordered(event_types)
        strings, numbers = _ordered(string_properties), _ordered(numeric_properties)
        name_to_type = _name_to_type(self.names, types)
        codes = self.entities.of(entity_ids, add=False)
        properties = (strings, numbers)
        if len(codes) == 1 and codes[0] >= 0:  # the unary case: one entity's ranges
            picked, position = self._pick_one(int(codes[0]), name_to_type, until, properties)
        else:
            present = np.flatnonzero(codes >= 0)
            picked, position = self._pick(codes[present], present, name_to_type, until, properties)
        return EventColumns(
            entity=position,
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
        positions: np.ndarray,
        types: np.ndarray,
        until: float | None,
        properties: tuple[Collection[str], Collection[str]],
    ) -> tuple[Block, np.ndarray]:
        """Wanted events (Block.wanted) of entity `codes` (at `positions` of the request)
        with the named (strings, numbers) properties only, ordered by (position, ts,
        arrival), and the position of each."""
        in_main = codes < len(self.offsets) - 1  # a code added later has no main rows
        starts = self.offsets[codes[in_main]]
        lengths = self.offsets[codes[in_main] + 1] - starts
        rows = _ranges(starts, lengths)
        position = np.repeat(positions[in_main], lengths)
        picked, keep = self.main.pick(rows, types, until, properties)
        position = position[keep]
        if not self.tail:
            return picked, position
        # Each tail block's rows of the request's entities (sorted codes: binary search
        # in a committed block, one pass over an uncommitted one), oldest block first.
        order = np.argsort(codes, kind="stable")
        by_code = codes[order]
        pieces, owners = [picked], [position]
        for block in self.tail:
            rows, at = block.rows_of(by_code)
            piece, keep = block.pick(rows, types, until, properties)
            if len(piece):
                pieces.append(piece)
                owners.append(positions[order[at[keep]]])
        if len(pieces) == 1:
            return picked, position
        both = Block.concat(pieces) if len(picked) or len(pieces) > 2 else pieces[1]
        position = np.concatenate(owners)
        order = np.lexsort((both.ts, position))  # stable: main's rows, then arrival order
        return both.take(order), position[order]

    def _pick_one(
        self,
        code: int,
        types: np.ndarray,
        until: float | None,
        properties: tuple[Collection[str], Collection[str]],
    ) -> tuple[Block, np.ndarray]:
        """_pick for the one entity `code` (at position 0), the unary case: its rows are
        one range of main and of each committed tail block (binary search), so no index
        ranges of many entities are built. The same rows in the same order as _pick."""
        pieces: list[Block] = []
        from_tail = False
        for block in (self.main, *self.tail):
            if block is self.main:
                if code >= len(self.offsets) - 1:  # a code added later has no main rows
                    continue
                rows = np.arange(self.offsets[code], self.offsets[code + 1])
            elif block.by_entity:
                entity = block.entity
                rows = np.arange(entity.searchsorted(code), entity.searchsorted(code, "right"))
            else:  # an uncommitted block: one pass over its rows
                rows = np.flatnonzero(block.entity == code)
            if rows.size:
                piece, _ = block.pick(rows, types, until, properties)
                if len(piece):
                    pieces.append(piece)
                    from_tail = block is not self.main
        if not pieces:
            none = np.zeros(0, np.int64)
            return self.main.take(none, *properties), none
        both = pieces[0] if len(pieces) == 1 else Block.concat(pieces)
        position = np.zeros(len(both), np.int64)
        if not from_tail:  # main's rows: sorted by (entity, ts, arrival) already
            return both, position
        # Stable: main's rows first, then the tail's from its oldest block, by arrival.
        return both.take(np.argsort(both.ts, kind="stable")), position

    def _column(self, prop: str, codes: np.ndarray) -> CategoricalColumn:
        """The property's codes with a vocabulary the engine's lookups cost no more than
        the request holds: the whole vocabulary when it is no larger than the events
        read (no remapping: the engine reads values through the codes, so unused words
        change nothing), else just the values present, renumbered."""
        values = self.vocab[prop].values
        size = len(values)  # before any code: the view's codes all lie below it
        if size <= max(SMALL_VOCABULARY, codes.size):
            return CategoricalColumn(codes.astype(np.int32), tuple(values[:size]))
        if codes.size * 8 < size:  # a few events of a large vocabulary: sort them
            present = np.unique(codes[codes >= 0]).astype(np.intp)
        else:  # codes present by a count (O(n), no sort); -1 (absent) counts at 0
            counts = np.bincount(codes.astype(np.intp) + 1, minlength=size + 1)
            present = np.flatnonzero(counts[1:])
        table = np.full(size + 1, -1, np.int32)  # codes[-1] lands on the last: -1
        table[present] = np.arange(len(present), dtype=np.int32)
        return CategoricalColumn(table[codes], tuple(values[c] for c in present.tolist()))


class PublishedEvents:
    """The event source of the reads served beside the writer: the view the writer
    published at its last commit (one reference read per call, never a lock), or
    `fallback` (the readers' SQLite connection) for properties the view does not keep
    (a profile reloaded or staged since; the writer widens its state on its next read)."""

    def __init__(self, published: Callable[[], EventView], fallback: EventSource) -> None:
        self._published = published
        self._fallback = fallback

    def load_events(
        self,
        entity_ids: Sequence[str],
        event_types: Collection[str],
        string_properties: Collection[str] = (),
        numeric_properties: Collection[str] = (),
        until: float | None = None,
    ) -> EventColumns:
        view = self._published()
        source: EventSource = (
            view if view.covers(string_properties, numeric_properties) else self._fallback
        )
        return source.load_events(
            entity_ids, event_types, string_properties, numeric_properties, until
        )


__all__ = ["Block", "EventView", "PublishedEvents"]
