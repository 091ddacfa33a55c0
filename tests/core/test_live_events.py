"""LiveEvents answers load_events as SQLite does, in columns as narrow as the data allows
(issue 12, S4): narrowing must never change a number, a string or an order."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from prioscore.server.core.live_events import LiveEvents
from prioscore.server.engine import EventColumns
from prioscore.server.store import EventBatch, Store

NOW = 1_900_000_000.0
STRINGS = ("url", "plan")
NUMBERS = ("clicks",)


def events(rng: np.random.Generator, n: int, prefix: str, *, wide: bool) -> tuple[
    EventBatch, list[dict[str, str]], list[dict[str, float]]
]:  # fmt: skip
    """n events of 40 entities; `wide`: values and clicks no float32 holds exactly, and
    more distinct urls than an int8 codes."""
    entity = [f"e{i}" for i in rng.integers(0, 40, n)]
    name = [["view", "click", "buy"][i] for i in rng.integers(0, 3, n)]
    # whole days: many events share a timestamp, so arrival order on ties is checked
    ts = NOW - rng.integers(0, 30, n).astype(np.float64) * 86_400.0
    value = rng.integers(1, 5, n).astype(np.float64)
    if wide:
        value += 0.1
    urls = 300 if wide else 12
    properties: list[dict[str, str]] = [
        {"url": f"/p{rng.integers(0, urls)}"} if rng.random() < 0.7 else {} for _ in range(n)
    ]
    metrics: list[dict[str, float]] = [
        {"clicks": float(rng.integers(0, 9)) + (1 / 3 if wide else 0.0)}
        if rng.random() < 0.5
        else {}
        for _ in range(n)
    ]
    merged = [json.dumps({**p, **m}) for p, m in zip(properties, metrics, strict=True)]
    batch = EventBatch(
        [f"{prefix}{i}" for i in range(n)], entity, name, ts, value, merged
    )  # fmt: skip
    return batch, properties, metrics


def assert_same(got: EventColumns, want: EventColumns) -> None:
    assert got.event_types == want.event_types
    for name in ("entity", "event_type", "ts", "value"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.value.dtype == np.float64 and got.ts.dtype == np.float64
    for s, column in want.strings.items():
        decoded = np.asarray((*got.strings[s].vocabulary, None), dtype=object)
        expected = np.asarray((*column.vocabulary, None), dtype=object)
        assert decoded[got.strings[s].codes].tolist() == expected[column.codes].tolist(), s
    for s, column in want.numbers.items():
        assert got.numbers[s].dtype == np.float64
        np.testing.assert_array_equal(got.numbers[s], column, err_msg=s)


@pytest.mark.parametrize("wide", [False, True])
def test_reads_equal_sqlite_from_main_and_tail(tmp_path: Path, wide: bool) -> None:
    rng = np.random.default_rng(5)
    store = Store(tmp_path / "live.db")
    try:
        first, _, _ = events(rng, 3_000, "a", wide=wide)
        store.insert_events(first)
        live = LiveEvents.build(store, STRINGS, NUMBERS)
        second, properties, metrics = events(rng, 500, "b", wide=wide)  # lands in the tail
        store.insert_events(second)
        live.append(second.entity_id, second.event, second.ts, second.value, properties, metrics)
        assert len(live) == 3_500
        ids = [f"e{i}" for i in rng.permutation(45)]  # some unknown, in no sorted order
        for types in (["view", "buy"], ["click"], ["buy", "click", "view"]):
            for until in (None, NOW - 10 * 86_400.0):
                assert_same(
                    live.load_events(ids, types, STRINGS, NUMBERS, until),
                    store.load_events(ids, types, STRINGS, NUMBERS, until),
                )
        # One entity's few events against a vocabulary larger than them (wide: 300 urls)
        # take the renumbered vocabulary; the whole one is taken otherwise. Each entity
        # alone (its rows in main and in the tail), unknown ones too.
        for types in (["buy"], ["view", "buy"]):
            for entity_id in ids:
                assert_same(
                    live.load_events([entity_id], types, STRINGS, NUMBERS),
                    store.load_events([entity_id], types, STRINGS, NUMBERS),
                )
        live.merge()
        assert_same(
            live.load_events(ids, ["view"], ["url"], NUMBERS),
            store.load_events(ids, ["view"], ["url"], NUMBERS),
        )
    finally:
        store.close()


def test_columns_are_narrow_when_nothing_is_lost(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    store = Store(tmp_path / "live.db")
    try:
        store.insert_events(events(rng, 2_000, "a", wide=False)[0])
        narrow = LiveEvents.build(store, STRINGS, NUMBERS)
        store.insert_events(events(rng, 2_000, "b", wide=True)[0])
        wide = LiveEvents.build(store, STRINGS, NUMBERS)
    finally:
        store.close()
    # entity int32 + name int8 + ts float64 + value float32 + 2 codes int8 + clicks float32,
    # plus 8 bytes of offsets per entity
    assert narrow.nbytes == 2_000 * (4 + 1 + 8 + 4 + 2 + 4) + 41 * 8
    # exact float64 values and an int16 url code once they no longer fit
    assert wide.nbytes == 4_000 * (4 + 1 + 8 + 8 + 2 + 1 + 8) + 41 * 8


def test_readers_see_the_committed_state_only(tmp_path: Path) -> None:
    """The view published for reads beside the writer moves at commits: appends of an
    open transaction stay unseen, a rolled-back one never shows, and what a commit
    publishes equals SQLite's read (LIVE_CORE.md, invariants 3 and 5)."""
    rng = np.random.default_rng(7)
    store = Store(tmp_path / "live.db")
    try:
        first, _, _ = events(rng, 1_000, "a", wide=False)
        store.insert_events(first)
        live = LiveEvents.build(store, STRINGS, NUMBERS)
        reads = live.reads(store)
        ids = [f"e{i}" for i in range(40)]

        def read_both() -> tuple[EventColumns, EventColumns]:
            return (
                reads.load_events(ids, ["view", "click"], STRINGS, NUMBERS),
                store.load_events(ids, ["view", "click"], STRINGS, NUMBERS),
            )

        before = read_both()[0]
        second, properties, metrics = events(rng, 300, "b", wide=False)
        for merged in (False, True):  # merged into main inside: rollback rereads SQLite
            mark = len(live)
            undo = partial(live.rollback, mark)
            with pytest.raises(RuntimeError), store.transaction(on_rollback=undo):
                store.insert_events(second)
                live.append(second.entity_id, second.event, second.ts, second.value,
                            properties, metrics)  # fmt: skip
                if merged:
                    live.merge()
                assert_same(read_both()[0], before)  # open: readers do not see it
                raise RuntimeError("rolled back")
            assert len(live) == mark
            assert_same(*read_both())
        with store.transaction():
            store.insert_events(second)
            live.append(second.entity_id, second.event, second.ts, second.value,
                        properties, metrics)  # fmt: skip
            assert_same(read_both()[0], before)
        assert len(read_both()[0]) > len(before)
        assert_same(*read_both())
        # A view is immutable: one held across a change (an identity merge, published
        # at once outside a transaction) still reads what it did.
        held, seen = live.published, read_both()[0]
        live.relabel([("e1", "e2")])
        assert live.published is not held
        assert_same(held.load_events(ids, ["view", "click"], STRINGS, NUMBERS), seen)
        moved = reads.load_events(["e1", "e2"], ["view", "click"], STRINGS, NUMBERS)
        assert not (moved.entity == 0).any()  # e1's events are e2's now
    finally:
        store.close()


def test_a_tail_of_many_committed_batches_stays_short_and_reads_as_sqlite(tmp_path: Path) -> None:
    """Each commit sorts the committed tail blocks by entity and merges them pairwise
    (a binary counter): many small ingest batches leave O(log n) blocks, never one per
    batch, and reads (ties on ts kept in arrival order) still equal SQLite's, with the
    open transaction's rows (unsorted, last) and after a rollback of them."""
    rng = np.random.default_rng(11)
    store = Store(tmp_path / "live.db")
    try:
        first, _, _ = events(rng, 2_000, "m", wide=False)
        store.insert_events(first)
        live = LiveEvents.build(store, STRINGS, NUMBERS)
        ids = [f"e{i}" for i in rng.permutation(45)]

        def same() -> None:
            for types in (["view", "buy"], ["click", "buy", "view"]):
                assert_same(
                    live.load_events(ids, types, STRINGS, NUMBERS),
                    store.load_events(ids, types, STRINGS, NUMBERS),
                )
            # One entity at a time (the unary read's own path): main, every tail block
            # (committed and open), unknown ids; with a cut that drops some events.
            for i, entity_id in enumerate(ids):
                until = None if i % 2 else NOW - 7 * 86_400.0
                assert_same(
                    live.load_events([entity_id], ["view", "click"], STRINGS, NUMBERS, until),
                    store.load_events([entity_id], ["view", "click"], STRINGS, NUMBERS, until),
                )

        for k in range(60):  # batches of 1 to 40 events, each committed
            batch, properties, metrics = events(rng, int(rng.integers(1, 41)), f"t{k}-", wide=False)
            store.insert_events(batch)
            live.append(batch.entity_id, batch.event, batch.ts, batch.value, properties, metrics)
            live.publish()  # what the store's commit does
        assert len(live._tail) <= 12  # log2(60 batches) + a few, not 60
        same()
        assert_same(  # readers' published view: the same state
            live.published.load_events(ids, ["view"], STRINGS, NUMBERS),
            store.load_events(ids, ["view"], STRINGS, NUMBERS),
        )
        mark = len(live)
        with (
            pytest.raises(RuntimeError),
            store.transaction(on_rollback=partial(live.rollback, mark)),
        ):
            batch, properties, metrics = events(rng, 30, "open-", wide=False)
            store.insert_events(batch)
            live.append(batch.entity_id, batch.event, batch.ts, batch.value, properties, metrics)
            same()  # the open transaction's rows, unsorted at the end, read in order
            raise RuntimeError("rolled back")
        same()
        live.merge()
        same()
    finally:
        store.close()


def test_a_metric_named_like_a_kept_string_reads_as_the_stored_json(tmp_path: Path) -> None:
    """A string property the profiles read may arrive as a metric (its number then reads
    back as JSON text) or as both (the stored JSON holds the metric: properties_json
    merges metrics last); the live copy must read what SQLite reads in every case, or
    scores would change across a restart (which rebuilds it from SQLite)."""
    from prioscore.server.handlers.requests import properties_json

    store = Store(tmp_path / "live.db")
    try:
        live = LiveEvents.build(store, STRINGS, NUMBERS)
        properties: list[dict[str, str]] = [
            {"plan": "pro", "url": "/a"}, {}, {"plan": "free"}, {"url": "/b"}, {"other": "x"},
        ]  # fmt: skip
        metrics: list[dict[str, float]] = [
            {}, {"plan": 2.0}, {"plan": 3.5, "clicks": 1.0}, {"clicks": 4.0}, {"url": 7.0},
        ]  # fmt: skip
        n = len(properties)
        columns = SimpleNamespace(properties=properties, metrics=metrics)  # all it reads
        batch = EventBatch(
            [f"m{i}" for i in range(n)], [f"e{i % 2}" for i in range(n)], ["view"] * n,
            NOW - np.arange(n, dtype=np.float64), np.ones(n),
            properties_json(columns),  # type: ignore[arg-type]
        )  # fmt: skip
        with store.transaction():
            store.insert_events(batch)
            live.append(batch.entity_id, batch.event, batch.ts, batch.value, properties, metrics)
        got = live.load_events(["e0", "e1"], ["view"], STRINGS, NUMBERS)
        assert_same(got, store.load_events(["e0", "e1"], ["view"], STRINGS, NUMBERS))
        plan = np.asarray((*got.strings["plan"].vocabulary, None), dtype=object)
        assert sorted(map(str, plan[got.strings["plan"].codes].tolist())) == sorted(
            ["pro", "2.0", "3.5", "None", "None"]
        )
    finally:
        store.close()


def untied_events(rng: np.random.Generator, n: int, prefix: str) -> tuple[
    EventBatch, list[dict[str, str]], list[dict[str, float]]
]:  # fmt: skip
    """events(), each at a time of its own."""
    batch, properties, metrics = events(rng, n, prefix, wide=False)
    return replace(batch, ts=batch.ts + rng.random(n)), properties, metrics


def test_merges_and_erasures_read_as_sqlite_and_a_merge_rolls_back(tmp_path: Path) -> None:
    """An identity merge takes the merged ids' rows out of main and the tail (committed
    and open blocks alike) and appends them relabelled; an erasure takes them out. Reads
    equal SQLite's after each, and a merge inside a rolled-back transaction is undone.
    Timestamps are distinct here: on a tie, merged rows follow the known id's rows,
    where SQLite orders by arrival (the module's one deviation)."""
    rng = np.random.default_rng(9)
    store = Store(tmp_path / "live.db")
    try:
        first, _, _ = untied_events(rng, 3_000, "a")
        store.insert_events(first)
        live = LiveEvents.build(store, STRINGS, NUMBERS)
        ids, types = [f"e{i}" for i in range(40)], ["view", "click", "buy"]

        def same() -> None:
            assert_same(
                live.load_events(ids, types, STRINGS, NUMBERS),
                store.load_events(ids, types, STRINGS, NUMBERS),
            )

        for prefix in ("b", "c"):  # a committed tail block, then an open one
            batch, properties, metrics = untied_events(rng, 400, prefix)
            with store.transaction():
                store.insert_events(batch)
                live.append(batch.entity_id, batch.event, batch.ts, batch.value,
                            properties, metrics)  # fmt: skip
                if prefix == "c":
                    live.relabel(store.merge_identities([("e1", "e2"), ("e3", "e30")], NOW))
        same()
        assert not len(live.load_events(["e1", "e3"], types, STRINGS, NUMBERS).entity)
        mark = len(live)
        with (
            pytest.raises(RuntimeError),
            store.transaction(on_rollback=partial(live.rollback, mark)),
        ):
            live.relabel(store.merge_identities([("e5", "e6")], NOW))
            raise RuntimeError("rolled back")
        same()
        assert len(live.load_events(["e5"], types, STRINGS, NUMBERS).entity)
        store.erase_entity("e7")
        live.erase(["e7"])
        same()
        assert not len(live.load_events(["e7"], types, STRINGS, NUMBERS).entity)
    finally:
        store.close()
