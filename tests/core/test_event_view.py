"""Block.pick (core/event_view.py): which rows a read keeps, and only what it names."""

from __future__ import annotations

import numpy as np

from prioscore.server.core.event_view import Block


def block(ts: list[float]) -> Block:
    return Block(
        np.array([0, 0, 1, 1], np.int32),
        np.array([0, 1, 0, 0], np.int8),
        np.array(ts),
        np.array([1, 2, 3, 4], np.float32),
        {"url": np.array([0, 1, -1, 2], np.int8), "plan": np.zeros(4, np.int8)},
        {"clicks": np.array([1, np.nan, 2, 3], np.float32)},
    )


def picked(b: Block, rows: list[int], until: float | None) -> list[float]:
    """The times of the rows `pick` keeps of `rows` (type 1 is not wanted)."""
    types = np.array([0, -1], np.int32)
    got, keep = b.pick(np.array(rows), types, until, (("url",), ()))
    assert list(got.strings) == ["url"] and not got.numbers
    np.testing.assert_array_equal(got.ts, b.ts[np.array(rows)[keep]])
    np.testing.assert_array_equal(got.strings["url"], b.strings["url"][np.array(rows)[keep]])
    return got.ts.tolist()


def test_pick_keeps_wanted_types_up_to_until() -> None:
    b = block([10.0, 50.0, 30.0, 20.0])
    assert picked(b, [0, 1, 2, 3], None) == [10.0, 30.0, 20.0]
    assert picked(b, [0, 1, 2, 3], 50.0) == [10.0, 30.0, 20.0]  # the latest: no check needed
    assert picked(b, [0, 1, 2, 3], 30.0) == [10.0, 30.0, 20.0]  # at until: kept
    assert picked(b, [3, 2, 0], 25.0) == [20.0, 10.0]  # the order of `rows`
    assert picked(b, [1], None) == []


def test_pick_checks_times_again_when_the_times_are_replaced() -> None:
    """The latest time is remembered per ts array: LiveEvents replaces arrays, and a
    replaced one with later times is checked against `until` again."""
    b = block([10.0, 50.0, 30.0, 20.0])
    assert picked(b, [0, 2, 3], 50.0) == [10.0, 30.0, 20.0]  # none after: not checked
    b.ts = np.array([10.0, 50.0, 90.0, 20.0])
    assert picked(b, [0, 2, 3], 50.0) == [10.0, 20.0]
