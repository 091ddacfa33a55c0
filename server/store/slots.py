"""SlotTable: one small integer per entity id, shared by the writer's in-memory state.

The score mirror (score_mirror.py), the entity mirror (entity_mirror.py) and the live
events (core.LiveEvents, whose entity codes are these slots) index their arrays by the
same slot, so a join between them (a contact's account and that account's stored score,
a chunk's events) is an array index, not a lookup per id. Slots are never reused while
the store is open: an erased id keeps its slot, its arrays simply say it has no row.

SlotIds is a list of ids that carries their slots: the sweep's chunks come out of the
entity mirror as slots, and every read along the chunk's way takes them as they are.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from itertools import repeat
from typing import SupportsIndex, overload

import numpy as np

from prioscore.server.engine import GIL_SLICE, fromiter_sliced


class SlotIds(list[str]):
    """Ids with their slots in `table` (a list, for every caller that takes ids)."""

    def __init__(self, ids: list[str], slots: np.ndarray, table: SlotTable) -> None:
        super().__init__(ids)
        self.slots = slots
        self.table = table

    @overload
    def __getitem__(self, index: SupportsIndex) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> str | list[str]:
        """A slice keeps the slots (the sweep's chunks of a population)."""
        if isinstance(index, slice):
            return SlotIds(list.__getitem__(self, index), self.slots[index], self.table)
        return list.__getitem__(self, index)

    def __add__(self, other: list[str]) -> list[str]:  # type: ignore[override]
        """Concatenation keeps the slots when both sides have them from one table (a
        profile's entities followed by their members)."""
        if isinstance(other, SlotIds) and other.table is self.table:
            return SlotIds([*self, *other], np.concatenate([self.slots, other.slots]), self.table)
        return [*self, *other]


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
            new = dict.fromkeys(np.asarray(ids, dtype=object)[at < 0].tolist())
            new.pop(None, None)  # type: ignore[call-overload]
            start = len(self._ids)
            slots.update(zip(new, range(start, start + len(new)), strict=True))
            self._ids.extend(new)
            at = fromiter_sliced(map(slots.get, ids, repeat(-1)), np.int64, len(ids))
        return at

    def ids(self, slots: np.ndarray) -> SlotIds:
        """The ids of `slots` (all known), carrying them: GIL_SLICE slots per C call (a
        population's 200k in one call kept the GIL ~80 ms on the writer)."""
        get = self._ids.__getitem__
        ids: list[str] = []
        for at in range(0, len(slots), GIL_SLICE):
            ids.extend(map(get, slots[at : at + GIL_SLICE].tolist()))
        return SlotIds(ids, slots, self)

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


__all__ = ["SlotIds", "SlotTable"]
