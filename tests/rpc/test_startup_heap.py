"""The serving process hides its start-up heap from the cyclic collector (gc.freeze), so
a full collection never rescans what lives as long as the process."""

from __future__ import annotations

import gc

from prioscore.server.rpc.server import freeze_startup_heap


def test_the_start_up_heap_is_frozen_out_of_collections() -> None:
    kept = [[i] for i in range(1_000)]  # objects alive "at start-up"
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= len(kept)
        # A full collection now looks only at what came after: far fewer objects.
        assert len(gc.get_objects(generation=2)) < gc.get_freeze_count()
    finally:
        gc.unfreeze()
