"""The serving process hides its start-up heap from the cyclic collector (gc.freeze), so
a full collection never rescans what lives as long as the process; runs full collections
seldom; and hands the GIL on sooner than CPython's default, so the loop is not kept
waiting by the writer."""

from __future__ import annotations

import gc
import sys

import pytest

from prioscore.server.rpc.server import (
    COLLECTOR_THRESHOLDS,
    SWITCH_INTERVAL_SECONDS,
    freeze_startup_heap,
    shorten_gil_turns,
    space_out_full_collections,
)


def test_the_start_up_heap_is_frozen_out_of_collections() -> None:
    kept = [[i] for i in range(1_000)]  # objects alive "at start-up"
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= len(kept)
        # A full collection now looks only at what came after: far fewer objects.
        assert len(gc.get_objects(generation=2)) < gc.get_freeze_count()
    finally:
        gc.unfreeze()


def test_the_serving_process_takes_short_gil_turns() -> None:
    """The loop waits at most one switch interval per GIL hand-over; CPython's 5 ms made
    a stored read wait out the writer's turns many times over during a big ingest."""
    before = sys.getswitchinterval()
    try:
        shorten_gil_turns()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
        assert before > SWITCH_INTERVAL_SECONDS
    finally:
        sys.setswitchinterval(before)


def test_the_serving_process_spaces_out_full_collections() -> None:
    """With the start-up heap frozen, CPython's default would run a full collection (a
    GIL hold over every live tracked object) every 70k allocations of heavy work."""
    before = gc.get_threshold()
    try:
        space_out_full_collections()
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert COLLECTOR_THRESHOLDS[2] > before[2] and COLLECTOR_THRESHOLDS[0] == before[0]
    finally:
        gc.set_threshold(*before)
