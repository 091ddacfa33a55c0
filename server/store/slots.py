"""SlotTable: one small integer per entity id, shared by the writer's in-memory state.

The score mirror (score_mirror.py), the entity mirror (entity_mirror.py) and the live
events (core.LiveEvents, whose entity codes are these slots) index their arrays by the
same slot, so a join between them (a contact's account and that account's stored score,
a chunk's events) is an array index, not a lookup per id. Slots are never reused while
the store is open: an erased id keeps its slot, its arrays simply say it has no row.

SlotIds names ids by their slots and makes their Python strings only when read: a sweep's
chunk comes out of the entity mirror as slots and every read along its way takes them as
they are (SlotTable.of), so only the rows it writes ever need their ids.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import SupportsIndex, overload

import numpy as np
from numpy.typing import DTypeLike

from prioscore.server.engine import GIL_SLICE, fromiter_sliced


class SlotIds(Sequence[str]):
    """The ids of `slots` in `table`, built as strings on first iteration (once).

    Building every id of a chunk touches each id's string object somewhere in the heap
    (a cache miss per id): a quarter of a steady clock sweep did that for ids it never
    wrote (bench S1). Slices, `take` and `joined` stay slots.
    """

    __slots__ = ("_ids", "slots", "table")

    def __init__(self, slots: np.ndarray, table: SlotTable) -> None:
        self.slots = slots
        self.table = table
        self._ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.slots)

    @overload
    def __getitem__(self, index: SupportsIndex) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> SlotIds: ...

    def __getitem__(self, index: SupportsIndex | slice) -> str | SlotIds:
        if isinstance(index, slice):
            return SlotIds(self.slots[index], self.table)
        return self.table.values[int(self.slots[index])]

    def __iter__(self) -> Iterator[str]:
        return iter(self.strings())

    def __contains__(self, value: object) -> bool:
        return value in self.strings()

    def __eq__(self, other: object) -> bool:
        """Equal to the list (or SlotIds) of the same ids, as the list it replaces was."""
        if isinstance(other, (SlotIds, list)):
            return self.strings() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like a list

    def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        """np.asarray(ids, dtype=object) in C (the Sequence protocol would call
        __getitem__ once per id), GIL_SLICE ids per C call: a promotion's readers hand
        contributors() 200k member ids, one call for all of them held the GIL on the
        writer 16-30 ms."""
        strings = self.strings()
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            return np.array(strings, dtype=dtype)
        out = np.empty(len(strings), dtype=object)
        for at in range(0, len(strings), GIL_SLICE):
            out[at : at + GIL_SLICE] = strings[at : at + GIL_SLICE]
        return out

    def strings(self) -> list[str]:
        """The ids as a list, built once (SlotTable.strings)."""
        if self._ids is None:
            self._ids = self.table.strings(self.slots)
        return self._ids

    def take(self, rows: np.ndarray) -> SlotIds:
        """The ids at positions `rows`, still slots."""
        return SlotIds(self.slots[rows], self.table)


def joined(first: Sequence[str], second: Sequence[str]) -> Sequence[str]:
    """first then second: still slots when both are SlotIds of one table (a profile's
    entities followed by their members), else a list."""
    if isinstance(first, SlotIds) and isinstance(second, SlotIds) and first.table is second.table:
        return SlotIds(np.concatenate([first.slots, second.slots]), first.table)
    return [*first, *second]


def taken(ids: Sequence[str] | np.ndarray, rows: np.ndarray) -> Sequence[str]:
    """The ids at positions `rows`: still slots for SlotIds, else a list (an object
    array of ids is indexed as it is)."""
    if isinstance(ids, SlotIds):
        return ids.take(rows)
    return np.asarray(ids, dtype=object)[rows].tolist()  # type: ignore[no-any-return]


class SlotTable:
    """Id -> slot (first-seen order) and slot -> id."""

    def __init__(self) -> None:
        self._slots: dict[str, int] = {}
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        """Bytes of the two tables (the ids' own strings not counted)."""
        return sys.getsizeof(self._slots) + sys.getsizeof(self._ids)

    def of(self, ids: Sequence[str], *, add: bool) -> np.ndarray:
        """Slots of ids (-1 unknown unless `add`: then new ids get new slots; None is
        never an id, always -1), by a C-level map over the dict's lookup: no Python
        code per id, and a slice of ids per C call (engine.fromiter_sliced: a chunk's
        look-ups in one call kept the GIL ~10 ms at 40k ids)."""
        if isinstance(ids, SlotIds) and ids.table is self:
            return ids.slots
        slots = self._slots
        at = fromiter_sliced(map(slots.get, ids, repeat(-1)), np.int64, len(ids))
        if add and (at < 0).any():
            self._add(ids, np.flatnonzero(at < 0))
            at = fromiter_sliced(map(slots.get, ids, repeat(-1)), np.int64, len(ids))
        return at

    def _add(self, ids: Sequence[str], unknown: np.ndarray) -> None:
        """New slots for the ids at positions `unknown`, in first-seen order (a repeated
        id once, None never), GIL_SLICE ids per C call: a first import's 200k new ids
        in one dict.fromkeys and one dict update held the GIL ~70 ms each."""
        slots, values = self._slots, self._ids
        for start in range(0, len(unknown), GIL_SLICE):
            positions = unknown[start : start + GIL_SLICE].tolist()
            seen = dict.fromkeys(map(ids.__getitem__, positions))
            seen.pop(None, None)  # type: ignore[call-overload]
            piece = list(seen)
            known = np.fromiter(map(slots.get, piece, repeat(-1)), np.int64, len(piece))
            new = np.asarray(piece, dtype=object)[known < 0].tolist()  # not in an earlier slice
            first = len(values)
            slots.update(zip(new, range(first, first + len(new)), strict=True))
            values.extend(new)

    def ids(self, slots: np.ndarray) -> SlotIds:
        """The ids of `slots` (all known), as slots until read."""
        return SlotIds(slots, self)

    def strings(self, slots: np.ndarray) -> list[str]:
        """The ids of `slots` (all known) as a list: GIL_SLICE slots per C call (a
        population's 200k in one call kept the GIL ~80 ms on the writer)."""
        get = self._ids.__getitem__
        ids: list[str] = []
        for at in range(0, len(slots), GIL_SLICE):
            ids.extend(map(get, slots[at : at + GIL_SLICE].tolist()))
        return ids

    # LiveEvents codes its entities with this table: the _Vocabulary interface.

    @property
    def codes(self) -> dict[str, int]:
        return self._slots

    @property
    def values(self) -> list[str]:
        return self._ids

    def code_all(self, values: Sequence[str]) -> np.ndarray:
        """int32 slots of `values`, new ones added."""
        return self.of(values, add=True).astype(np.int32)


__all__ = ["SlotIds", "SlotTable", "joined", "taken"]
