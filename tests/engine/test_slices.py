"""engine.fromiter_sliced: np.fromiter in bounded pieces, the same array."""

from __future__ import annotations

from itertools import repeat

import numpy as np
import pytest

from prioscore.server.engine import GIL_SLICE, fromiter_sliced


@pytest.mark.parametrize(
    "count", [0, 1, GIL_SLICE - 1, GIL_SLICE, GIL_SLICE + 1, 3 * GIL_SLICE + 7]
)
def test_sliced_is_fromiter_over_the_same_items(count: int) -> None:
    table = {f"id-{i}": i for i in range(0, 2 * count, 2)}
    ids = [f"id-{i}" for i in range(count)]
    expected = np.fromiter(map(table.get, ids, repeat(-1)), np.int64, count)
    got = fromiter_sliced(map(table.get, ids, repeat(-1)), np.int64, count)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


def test_sliced_reads_no_item_past_its_count() -> None:
    items = iter(range(10 * GIL_SLICE))
    np.testing.assert_array_equal(
        fromiter_sliced(items, np.int32, GIL_SLICE + 3), np.arange(GIL_SLICE + 3)
    )
    assert next(items) == GIL_SLICE + 3
