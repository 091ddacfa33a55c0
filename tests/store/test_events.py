from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.errors import FailedPreconditionError
from prioscore.server.store.database import EventBatch, Store

from .builders import events


def test_redelivered_message_id_is_counted_once(store: Store) -> None:
    batch = events([("m1", "a", "view", 1.0), ("m2", "a", "view", 2.0)])
    assert store.insert_events(batch) == 2
    assert store.insert_events(batch) == 0
    # a batch mixing a new and an old id, and a duplicate within the batch itself
    again = events([("m2", "a", "view", 9.0), ("m3", "b", "view", 3.0), ("m3", "b", "x", 4.0)])
    assert store.insert_events(again) == 1
    assert store.count_events() == 3
    # the first delivery wins: m2 keeps ts 2.0
    cols = store.load_events(["a"], ["view"])
    assert sorted(cols.ts.tolist()) == [1.0, 2.0]


def test_empty_batch_and_length_mismatch(store: Store) -> None:
    assert store.insert_events(events([])) == 0
    bad = EventBatch(["m1"], ["a", "b"], ["v"], np.array([1.0]), np.array([1.0]), [None])
    with pytest.raises(ValueError):
        store.insert_events(bad)


def test_properties_as_dicts_and_empty_strings(store: Store) -> None:
    batch = EventBatch(
        message_id=["m1", "m2"],
        entity_id=["a", "a"],
        event=["view", "view"],
        ts=np.array([1.0, 2.0]),
        value=np.array([1.0, 1.0]),
        properties=[{"url": "/p"}, {}],
    )
    assert store.insert_events(batch) == 2
    text = EventBatch(["m3"], ["a"], ["view"], np.array([3.0]), np.array([1.0]), [""])
    assert store.insert_events(text) == 1
    cols = store.load_events(["a"], ["view"], ["url"])
    assert cols.strings["url"].vocabulary == ("/p",)
    assert cols.strings["url"].codes.tolist() == [0, -1, -1]


def test_transaction_rollback_writes_nothing(store: Store) -> None:
    store.insert_events(events([("m0", "a", "view", 1.0)]))
    with pytest.raises(RuntimeError), store.transaction():
        assert store.insert_events(events([("m1", "a", "view", 2.0)])) == 1
        store.upsert_entities([_entity("a")])
        # inside the transaction the writes are visible
        assert store.count_events() == 2
        raise RuntimeError("boom")
    assert store.count_events() == 1
    assert store.get_entities(["a"]) == {}
    # and the store is usable afterwards, in and out of transactions
    with store.transaction():
        assert store.insert_events(events([("m1", "a", "view", 2.0)])) == 1
    assert store.count_events() == 2


def test_transaction_commits_all_writes_together(db_path, store: Store) -> None:
    with store.transaction():
        store.insert_events(events([("m1", "a", "view", 1.0)]))
        store.upsert_entities([_entity("a")])
        other = Store(db_path)  # a second connection does not see uncommitted writes
        try:
            assert other.count_events() == 0
        finally:
            other.close()
    other = Store(db_path)
    try:
        assert other.count_events() == 1
        assert set(other.get_entities(["a"])) == {"a"}
    finally:
        other.close()


def test_nested_transaction_is_an_error(store: Store) -> None:
    with store.transaction():
        store.insert_events(events([("m1", "a", "view", 1.0)]))
        with pytest.raises(FailedPreconditionError), store.transaction():
            pass  # pragma: no cover
        assert store.conn.in_transaction  # the failed attempt left the outer one intact
    assert not store.conn.in_transaction
    assert store.count_events() == 1


def _entity(id_: str):
    from prioscore.server.store.database import EntityRecord

    return EntityRecord(id=id_, kind="contact")


def test_load_events_alignment_filters_until_and_properties(store: Store) -> None:
    store.insert_events(
        events(
            [
                ("m1", "a", "view", 10.0, None, {"url": "/pricing", "clicks": 3}),
                ("m2", "a", "click", 20.0, 2.5, {"url": "/docs", "clicks": 1.5}),
                ("m3", "b", "view", 15.0, None, {"url": "/pricing"}),
                ("m4", "b", "view", 30.0, 4.0, {"clicks": "many", "url": 7}),
                ("m5", "c", "view", 5.0),  # not requested
                ("m6", "a", "signup", 12.0),  # type not requested
                ("m7", "b", "click", 40.0, None, {"weird key.x[0]": "yes"}),
            ]
        )
    )
    cols = store.load_events(
        ["b", "a", "nobody"],
        ("click", "view"),
        ["url", "weird key.x[0]"],
        ["clicks"],
    )
    assert cols.event_types == ("click", "view")
    got = sorted(
        zip(
            cols.entity.tolist(),
            cols.event_type.tolist(),
            cols.ts.tolist(),
            cols.value.tolist(),
            strict=True,
        )
    )
    assert got == [
        (0, 0, 40.0, 1.0),
        (0, 1, 15.0, 1.0),
        (0, 1, 30.0, 4.0),
        (1, 0, 20.0, 2.5),
        (1, 1, 10.0, 1.0),
    ]
    assert cols.entity.dtype == np.int64 and cols.event_type.dtype == np.int32
    assert cols.ts.dtype == np.float64 and cols.value.dtype == np.float64
    by_ts = {t: i for i, t in enumerate(cols.ts.tolist())}
    url = cols.strings["url"]
    assert url.codes.dtype == np.int32

    def url_at(ts: float) -> str | None:
        code = url.codes[by_ts[ts]]
        return None if code < 0 else url.vocabulary[code]

    assert [url_at(t) for t in (10.0, 20.0, 15.0, 30.0, 40.0)] == [
        "/pricing",
        "/docs",
        "/pricing",
        "7",  # a number read as a string property becomes its text
        None,
    ]
    assert url.vocabulary == tuple(sorted(url.vocabulary))
    weird = cols.strings["weird key.x[0]"]
    assert weird.vocabulary == ("yes",)
    assert weird.codes[by_ts[40.0]] == 0
    clicks = cols.numbers["clicks"]
    assert clicks[by_ts[10.0]] == 3.0 and clicks[by_ts[20.0]] == 1.5
    assert np.isnan(clicks[by_ts[15.0]])  # absent
    assert np.isnan(clicks[by_ts[30.0]])  # not a number

    until = store.load_events(["b", "a"], {"view", "click"}, until=20.0)
    assert until.event_types == ("click", "view")  # sets come sorted
    assert sorted(until.ts.tolist()) == [10.0, 15.0, 20.0]
    assert until.strings == {} and until.numbers == {}


def test_load_events_rows_grouped_by_entity_in_ts_order(store: Store) -> None:
    rng = np.random.default_rng(0)
    n = 2000
    ids = [f"e{i % 37}" for i in range(n)]
    ts = rng.random(n) * 1000
    store.insert_events(
        EventBatch(
            [f"m{i}" for i in range(n)],
            ids,
            ["view"] * n,
            ts,
            np.ones(n),
            [None] * n,
        )
    )
    order = [f"e{i}" for i in reversed(range(37))]
    cols = store.load_events(order, ["view"])
    assert len(cols) == n
    assert np.all(np.diff(cols.entity) >= 0)
    same = np.diff(cols.entity) == 0
    assert np.all(np.diff(cols.ts)[same] >= 0)
    # each event is attributed to the right position
    expected = np.array([order.index(e) for e in ids])
    assert sorted(zip(cols.entity.tolist(), cols.ts.tolist(), strict=True)) == sorted(
        zip(expected.tolist(), ts.tolist(), strict=True)
    )


def test_load_events_empty_inputs(store: Store) -> None:
    store.insert_events(events([("m1", "a", "view", 1.0)]))
    for cols in (
        store.load_events([], ["view"], ["url"], ["clicks"]),
        store.load_events(["a"], [], ["url"], ["clicks"]),
        store.load_events(["zz"], ["view"], ["url"], ["clicks"]),
    ):
        assert len(cols) == 0
        assert cols.entity.dtype == np.int64
        assert cols.strings["url"].codes.shape == (0,)
        assert cols.numbers["clicks"].dtype == np.float64
    with pytest.raises(ValueError):
        store.load_events(["a", "a"], ["view"])
    with pytest.raises(ValueError):
        store.load_events(["a"], ["view"], ['say "hi"'])
