"""SlotTable (store/slots.py): ids to slots and back, in bounded slices."""

from __future__ import annotations

import numpy as np

from prioscore.server.engine import GIL_SLICE
from prioscore.server.store import SlotTable


def test_slot_ids_across_slices_are_the_ids_in_order() -> None:
    """SlotTable.ids builds its list GIL_SLICE slots per call: order and values kept."""
    table = SlotTable()
    ids = [f"e{i}" for i in range(2 * GIL_SLICE + 5)]
    slots = table.of(ids, add=True)
    picked = slots[::-1][: GIL_SLICE + 9]
    got = table.ids(picked)
    assert list(got) == [ids[s] for s in picked.tolist()]
    np.testing.assert_array_equal(got.slots, picked)
    assert list(table.ids(slots[:0])) == []
