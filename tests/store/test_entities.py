from __future__ import annotations

import numpy as np

from prioscore.server.store import EntityRecord, Store


def test_upsert_merges_attributes_and_keeps_created(store: Store) -> None:
    first = EntityRecord(
        id="a",
        kind="contact",
        account_id="acme",
        attributes={"seniority": "vp", "country": "FR"},
        numeric_attributes={"employees": 50},
        created=100.0,
        updated=100.0,
    )
    assert store.upsert_entities([first, EntityRecord(id="b", kind="contact")]) == 2
    second = EntityRecord(
        id="a",
        attributes={"seniority": "c_level", "industry": "saas"},
        numeric_attributes={"arr": 1.5},
        created=200.0,
        updated=200.0,
    )
    assert store.upsert_entities([second, second]) == 1  # distinct entities written
    got = store.get_entities(["a", "b", "missing"])
    assert set(got) == {"a", "b"}
    a = got["a"]
    assert a.kind == "contact" and a.account_id == "acme"  # "" keeps the stored value
    assert a.attributes == {"seniority": "c_level", "country": "FR", "industry": "saas"}
    assert a.numeric_attributes == {"employees": 50.0, "arr": 1.5}
    assert a.created == 100.0 and a.updated == 200.0
    assert got["b"].created > 0 and got["b"].attributes == {}

    store.upsert_entities([EntityRecord(id="a", kind="lead", account_id="globex")])
    a = store.get_entities(["a"])["a"]
    assert (a.kind, a.account_id) == ("lead", "globex")
    assert a.attributes["seniority"] == "c_level"


def test_entity_ids_filters(store: Store) -> None:
    store.upsert_entities(
        [
            EntityRecord(id="c2", kind="contact", account_id="acme"),
            EntityRecord(id="c1", kind="contact", account_id="globex"),
            EntityRecord(id="x", kind="account"),
        ]
    )
    assert store.entity_ids() == ["c1", "c2", "x"]
    assert store.entity_ids(kind="contact") == ["c1", "c2"]
    assert store.entity_ids(account_id="acme") == ["c2"]
    assert store.entity_ids(kind="account", account_id="acme") == []


def test_ensure_entities_creates_only_missing(store: Store) -> None:
    store.upsert_entities([EntityRecord(id="a", kind="contact", attributes={"k": "v"})])
    assert store.ensure_entities(["a", "b", "c"], kind="contact") == 2
    got = store.get_entities(["a", "b"])
    assert got["a"].attributes == {"k": "v"}
    assert got["b"].kind == "contact" and got["b"].attributes == {}


def test_attributes_columns_aligned(store: Store) -> None:
    store.upsert_entities(
        [
            EntityRecord(
                id="a",
                attributes={"seniority": "vp", "relationship": "customer"},
                numeric_attributes={"employees": 120, "arr": 3.5},
            ),
            EntityRecord(
                id="b",
                attributes={"seniority": "a-rather-long-value"},
                numeric_attributes={"employees": 7},
            ),
        ]
    )
    cols = store.attributes(
        ["b", "ghost", "a"], ["seniority", "relationship", "employees"], ["employees", "arr"]
    )
    assert cols["seniority"].tolist() == ["a-rather-long-value", "", "vp"]
    assert cols["seniority"].dtype.kind == "U"
    assert cols["relationship"].tolist() == ["", "", "customer"]
    # a categorical lookup of a numeric attribute sees its text
    assert cols["employees"].dtype == np.float64
    np.testing.assert_array_equal(cols["employees"], [7.0, np.nan, 120.0])
    np.testing.assert_array_equal(cols["arr"], [np.nan, np.nan, 3.5])
    empty = store.attributes([], ["seniority"], ["arr"])
    assert empty["seniority"].shape == (0,) and empty["arr"].shape == (0,)


def test_attributes_categorical_falls_back_to_numeric_text(store: Store) -> None:
    store.upsert_entities([EntityRecord(id="a", numeric_attributes={"plan_id": 3})])
    cols = store.attributes(["a"], ["plan_id"], [])
    assert cols["plan_id"].tolist() == ["3"]
