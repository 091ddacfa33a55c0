from __future__ import annotations

import numpy as np

from prioscore.server.engine import (
    Aggregate,
    CategoricalColumn,
    DisqualifyRule,
    FeatureSet,
    FitRule,
    Profile,
    Signal,
    TierMode,
    Tiers,
    score,
)
from prioscore.server.store.database import EntityRecord, Store
from prioscore.server.store.records import categorical, texts_to_codes


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


def texts(column: CategoricalColumn) -> list[str]:
    """A categorical column decoded back to text, "" where missing (code -1)."""
    return [column.vocabulary[c] if c >= 0 else "" for c in column.codes.tolist()]


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
    seniority, relationship = cols["seniority"], cols["relationship"]
    assert isinstance(seniority, CategoricalColumn)
    assert isinstance(relationship, CategoricalColumn)
    assert seniority.codes.dtype == np.int32
    assert seniority.codes.tolist() == [0, -1, 1]
    assert seniority.vocabulary == ("a-rather-long-value", "vp")  # sorted
    assert texts(relationship) == ["", "", "customer"]
    # a name asked for as both categorical and numeric is returned numeric
    assert isinstance(cols["employees"], np.ndarray) and cols["employees"].dtype == np.float64
    np.testing.assert_array_equal(cols["employees"], [7.0, np.nan, 120.0])
    np.testing.assert_array_equal(cols["arr"], [np.nan, np.nan, 3.5])
    empty = store.attributes([], ["seniority"], ["arr"])
    assert isinstance(empty["seniority"], CategoricalColumn)
    assert empty["seniority"].codes.shape == (0,) and empty["seniority"].vocabulary == ()
    assert empty["arr"].shape == (0,)


def test_attributes_every_id_stored_and_none(store: Store) -> None:
    store.upsert_entities(
        [
            EntityRecord(id="a", attributes={"tier": "gold"}),
            EntityRecord(id="b", attributes={"tier": ""}),  # stored "" reads as missing
            EntityRecord(id="c", attributes={"tier": "silver"}),
        ]
    )
    column = store.attributes(["c", "a", "b", "a"], ["tier"])["tier"]
    assert isinstance(column, CategoricalColumn)
    assert texts(column) == ["silver", "gold", "", "gold"]
    assert column.vocabulary == ("gold", "silver")  # sorted, whatever the id order
    assert column.codes[2] == -1
    nobody = store.attributes(["x", "y"], ["tier"], ["arr"])
    assert isinstance(nobody["tier"], CategoricalColumn)
    assert nobody["tier"].codes.tolist() == [-1, -1] and nobody["tier"].vocabulary == ()
    assert np.isnan(nobody["arr"]).all()


def test_stored_attributes_say_which_ids_have_a_row(store: Store) -> None:
    """stored_attributes: the columns attributes() gives, and which ids have an entity
    row, in one statement; existence is read even when no attribute is asked for."""
    store.upsert_entities([EntityRecord(id="a", attributes={"tier": "gold"}), EntityRecord(id="b")])
    ids = ["ghost", "b", "a", "nobody", "a"]
    found, columns = store.stored_attributes(ids, ["tier"], ["arr"])
    assert found.tolist() == [False, True, True, False, True]
    want = store.attributes(ids, ["tier"], ["arr"])
    tier = columns["tier"]
    assert isinstance(tier, CategoricalColumn)
    assert texts(tier) == ["", "", "gold", "", "gold"]
    np.testing.assert_array_equal(columns["arr"], want["arr"])
    assert store.stored_attributes(["b", "a"])[0].tolist() == [True, True]
    assert store.stored_attributes(["b", "x"])[0].tolist() == [True, False]
    assert store.stored_attributes(["x"], ["tier"])[0].tolist() == [False]
    assert store.stored_attributes([])[0].shape == (0,)


def test_one_id_reads_as_it_does_among_many(store: Store) -> None:
    """The one-id statement (the unary read) gives what the many-id one gives that id:
    text, "" (missing), a number read as text, absent attributes, no row at all."""
    store.upsert_entities(
        [
            EntityRecord(id="a", attributes={"tier": "gold", "city": "Zürich"}),
            EntityRecord(id="b", attributes={"tier": ""}, numeric_attributes={"arr": 2.5}),
            EntityRecord(id="c", numeric_attributes={"tier": 3, "arr": 7}),
            EntityRecord(id="d"),
        ]
    )
    cats, nums = ["tier", "city"], ["arr"]
    for entity_id in ("a", "b", "c", "d", "ghost"):
        found, one = store.stored_attributes([entity_id], cats, nums)
        other = "a" if entity_id != "a" else "b"  # two rows: the general factorising
        many_found, many = store.stored_attributes([entity_id, other], cats, nums)
        assert found.tolist() == many_found[:1].tolist() == [entity_id != "ghost"]
        for c in cats:
            got, want = one[c], many[c]
            assert isinstance(got, CategoricalColumn) and isinstance(want, CategoricalColumn)
            assert got.codes.dtype == np.int32
            assert texts(got) == texts(want)[:1]
            assert got.vocabulary == tuple(t for t in texts(want)[:1] if t)
        np.testing.assert_array_equal(one["arr"], many["arr"][:1])
    assert texts(store.attributes(["c"], ["tier"])["tier"]) == ["3"]


def test_attributes_categorical_falls_back_to_numeric_text(store: Store) -> None:
    store.upsert_entities(
        [
            EntityRecord(id="a", numeric_attributes={"plan_id": 3}),
            EntityRecord(id="b", numeric_attributes={"plan_id": 2.5}),
        ]
    )
    column = store.attributes(["a", "b"], ["plan_id"], [])["plan_id"]
    assert isinstance(column, CategoricalColumn)
    assert texts(column) == ["3", "2.5"]


def test_stored_attributes_score_like_str_arrays(store: Store) -> None:
    """Codes from the store and the str arrays inline requests use score alike, a rule
    keyed on "" (missing) included."""
    store.upsert_entities(
        [
            EntityRecord(id="a", attributes={"seniority": "vp", "relationship": "customer"}),
            EntityRecord(id="b", attributes={"seniority": "intern"}),
            EntityRecord(id="c", attributes={"relationship": ""}),
        ]
    )
    fit = (FitRule("seniority", points={"vp": 15, "intern": -5, "": 1}),)
    dq = (DisqualifyRule("relationship", ("customer", "")),)
    prof = Profile(
        name="p",
        version=1,
        entity="contact",
        signals=(Signal("s", "e", Aggregate.COUNT, 1.0),),
        tiers=Tiers(TierMode.ABSOLUTE, ("cold", "hot"), (0.0, 50.0)),
        max_points=10.0,
        fit=fit,
        disqualify=dq,
        fit_weight=0.5,
    )
    ids = ["a", "b", "c", "ghost"]
    features = FeatureSet(np.array([[1.0], [2.0], [3.0], [4.0]]), np.full(4, -1, np.int32))
    stored = score(prof, features, store.attributes(ids, ["seniority", "relationship"]))
    strs = {
        "seniority": np.array(["vp", "intern", "", ""]),
        "relationship": np.array(["customer", "", "", ""]),
    }
    inline = score(prof, features, strs)
    np.testing.assert_array_equal(stored.fit, inline.fit)
    np.testing.assert_array_equal(stored.score, inline.score)
    np.testing.assert_array_equal(stored.tier, inline.tier)
    assert stored.disqualify_reason.tolist() == inline.disqualify_reason.tolist()
    assert stored.disqualified.tolist() == [True, True, True, True]


def test_factorise_helpers_match_np_unique() -> None:
    """categorical (event properties) keeps "" as a value; texts_to_codes (attributes)
    codes it -1 like None; both give np.unique's sorted vocabulary and codes."""
    rng = np.random.default_rng(7)
    values = np.array(["/b", "/a", "", "/é", "Z", "x"], dtype=object)
    raw = [None if i == 6 else values[i] for i in rng.integers(0, 7, 500).tolist()]
    present = np.array([v is not None for v in raw])
    vocabulary, inverse = np.unique(
        np.array(raw, dtype=object)[present].astype(str), return_inverse=True
    )
    expected = np.full(len(raw), -1)
    expected[present] = inverse
    got = categorical(raw, len(raw))
    assert got.vocabulary == tuple(vocabulary.tolist())
    np.testing.assert_array_equal(got.codes, expected)
    assert got.codes.dtype == np.int32
    attrs = texts_to_codes(raw, len(raw))
    assert attrs.vocabulary == tuple(v for v in vocabulary.tolist() if v)
    assert [attrs.vocabulary[c] if c >= 0 else None for c in attrs.codes.tolist()] == [
        v or None for v in raw
    ]
    numbers = categorical(["a", 3, None, 2.5, "3"], 5)  # non-str values code as their str()
    assert numbers.vocabulary == ("2.5", "3", "a")
    assert numbers.codes.tolist() == [2, 1, -1, 0, 1]
    assert categorical([], 0).vocabulary == () and texts_to_codes([], 0).codes.shape == (0,)
