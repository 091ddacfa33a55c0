"""SlotTable (store/slots.py): ids to slots and back, in bounded slices."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine import GIL_SLICE
from prioscore.server.store import SlotIds, SlotTable, joined, taken
from prioscore.server.store import slots as slots_module


def test_slot_ids_across_slices_are_the_ids_in_order() -> None:
    """SlotTable.ids builds its list GIL_SLICE slots per call: order and values kept."""
    table = SlotTable()
    ids = [f"e{i}" for i in range(2 * GIL_SLICE + 5)]
    slots = table.of(ids, add=True)
    picked = slots[::-1][: GIL_SLICE + 9]
    got = table.ids(picked)
    assert list(got) == [ids[s] for s in picked.tolist()]
    np.testing.assert_array_equal(got.slots, picked)
    as_array = np.asarray(got)  # filled GIL_SLICE ids per call too
    assert as_array.dtype == object and as_array.tolist() == [ids[s] for s in picked.tolist()]
    assert np.asarray(got, dtype=str).tolist() == as_array.tolist()
    assert list(table.ids(slots[:0])) == []


def test_slot_ids_read_as_the_list_they_name() -> None:
    """SlotIds is a Sequence of the ids (index, iteration, equality, numpy), and slices,
    take and concatenation of one table's SlotIds stay slots naming the same ids."""
    table = SlotTable()
    names = [f"e{i}" for i in range(10)]
    slots = table.of(names, add=True)[::-1].copy()
    ids = table.ids(slots)
    expected = names[::-1]
    assert len(ids) == 10 and ids[0] == "e9" and ids[-1] == "e0"
    assert list(ids) == expected and ids == expected and "e3" in ids
    assert np.asarray(ids, dtype=object).tolist() == expected
    part = ids[2:5]
    assert isinstance(part, SlotIds) and part == expected[2:5]
    np.testing.assert_array_equal(part.slots, slots[2:5])
    picked = taken(ids, np.array([4, 0]))
    assert isinstance(picked, SlotIds) and picked == ["e5", "e9"]
    both = joined(part, picked)
    assert isinstance(both, SlotIds) and both == [*expected[2:5], "e5", "e9"]
    # another table's or plain lists: concatenated as strings, either side
    assert joined(["x"], part) == ["x", *expected[2:5]]
    assert joined(part, ["y"]) == [*expected[2:5], "y"]
    other = SlotTable()
    assert joined(part, other.ids(other.of(["z"], add=True))) == [*expected[2:5], "z"]
    assert taken(["a", "b", "c"], np.array([2, 0])) == ["c", "a"]


def test_new_ids_get_slots_in_first_seen_order_across_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """of(add=True) adds new ids GIL_SLICE at a time: an id repeated in a later slice,
    an id already known, and None (never an id) keep the one-call answer."""
    monkeypatch.setattr(slots_module, "GIL_SLICE", 3)
    table = SlotTable()
    table.of(["k1", "k2"], add=True)
    ids = ["a", "k2", "b", "a", None, "c", "b", "k1", "d", "a", "e", None, "c"]
    got = table.of(ids, add=True).tolist()  # type: ignore[arg-type]
    order = ["k1", "k2", "a", "b", "c", "d", "e"]
    assert table.values == order
    assert got == [-1 if i is None else order.index(i) for i in ids]
    assert table.of(order, add=True).tolist() == list(range(len(order)))  # nothing new
    assert len(table) == len(order)
