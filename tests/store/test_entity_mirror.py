"""The store's in-memory copy of entity rows (entity_mirror.py) must never go stale and
must read back exactly what SQLite holds: narrow columns, the id order and the members
index all follow every change without a full rebuild."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prioscore.server.engine import GIL_SLICE
from prioscore.server.store.database import EntityRecord, Store
from prioscore.server.store.entity_mirror import ColumnKind, _Column


def test_the_entity_mirror_widens_a_column_that_outgrows_its_type(
    store: Store, db_path: Path
) -> None:
    """Attribute columns start narrow (int8 codes, float32 numbers) and must widen, not
    wrap or round, when a value needs more: 300 distinct texts, a float64-only number."""
    rows = [
        EntityRecord(
            f"e{i}",
            "contact",
            attributes={"industry": f"ind{i}"},
            numeric_attributes={"employees": float(i)},
        )
        for i in range(100)
    ]
    store.upsert_entities(rows)
    ids = [f"e{i}" for i in range(300)]
    store.mirrored().attributes(ids, ["industry"], ["employees"])  # columns built narrow
    store.upsert_entities(
        [
            EntityRecord(
                f"e{i}",
                "contact",
                attributes={"industry": f"ind{i}"},
                numeric_attributes={"employees": i + 0.1},
            )
            for i in range(100, 300)
        ]
    )
    reader = Store(db_path)
    try:
        got = store.mirrored().attributes(ids, ["industry"], ["employees"])
        want = reader.attributes(ids, ["industry"], ["employees"])
    finally:
        reader.close()
    assert got["industry"].vocabulary == want["industry"].vocabulary  # type: ignore[union-attr]
    np.testing.assert_array_equal(got["industry"].codes, want["industry"].codes)  # type: ignore[union-attr]
    assert got["employees"].dtype == np.float64  # type: ignore[union-attr]
    np.testing.assert_array_equal(got["employees"], want["employees"])


def test_the_id_order_follows_entities_that_come_and_go(store: Store, db_path: Path) -> None:
    """The mirror's population (ids by kind, as SQLite's ORDER BY id) is merged, not
    re-sorted, as entities come and go: it must equal a fresh SQLite read each time."""
    rng = np.random.default_rng(3)
    store.upsert_entities([EntityRecord(f"c{i:03d}", "contact") for i in range(0, 300, 3)])
    assert store.mirrored().entity_ids("contact") == store.entity_ids(kind="contact")
    for step in range(6):
        new = [f"c{i:03d}" for i in rng.integers(0, 300, 20)] + [f"a{step}", "zz", "b"]
        store.upsert_entities([EntityRecord(i, "contact") for i in new])
        for gone in rng.choice(store.entity_ids(kind="contact"), 5, replace=False):
            store.erase_entity(str(gone))
        reader = Store(db_path)
        try:
            assert store.mirrored().entity_ids("contact") == reader.entity_ids(kind="contact")
        finally:
            reader.close()


def test_the_id_order_merges_what_came_and_went_over_many_catch_ups(
    store: Store, db_path: Path
) -> None:
    """The id order is merged when it is next read, not at each catch-up: rows that came,
    went, came back, or came and went again between two reads must all land right."""
    store.upsert_entities([EntityRecord(f"c{i:03d}", "contact") for i in range(0, 100, 2)])
    assert store.mirrored().entity_ids("contact") == store.entity_ids(kind="contact")
    steps = [
        ["c001", "c051", "zz"],  # came
        ["c003", "a"],  # came; "c003" goes again below
        ["c010"],  # stored already: no change to the order
    ]
    for new in steps:
        store.upsert_entities([EntityRecord(i, "contact") for i in new])
        store.mirrored().kinds_of(new)  # a catch-up, as each ingest batch makes
    for gone in ("c003", "c020", "c051"):
        store.erase_entity(gone)
        store.mirrored().kinds_of([gone])
    store.upsert_entities([EntityRecord("c020", "contact")])  # went and came back
    store.mirrored().kinds_of(["c020"])
    reader = Store(db_path)
    try:
        want = reader.entity_ids(kind="contact")
    finally:
        reader.close()
    assert "c020" in want and "c003" not in want and "zz" in want
    assert store.mirrored().entity_ids("contact") == want


def test_the_id_order_read_at_start_up_is_sorted_by_code_point(store: Store, db_path: Path) -> None:
    """A mirror built over a stored population takes SQLite's ORDER BY id as its id order
    (no sort in Python): that must be Python's order of the same ids, non-ASCII included
    (UTF-8 bytes compare as code points do), and merging newcomers in must keep it."""
    ids = ["b", "B", "a10", "a9", "é", "e", "z\u00ff", "z\U0001f600", "ž", "Z", "", "0"]
    store.upsert_entities([EntityRecord(i, "contact") for i in ids if i])
    store.upsert_entities([EntityRecord("x-ticket", "ticket")])
    fresh = Store(db_path)  # its mirror is built from the stored rows
    try:
        assert fresh.mirrored().entity_ids("contact") == sorted(i for i in ids if i)
        fresh.upsert_entities([EntityRecord(i, "contact") for i in ("ä", "A", "zz")])
        want = sorted({*ids, "ä", "A", "zz"} - {""})
        assert fresh.mirrored().entity_ids("contact") == want
        assert fresh.mirrored().entity_ids("ticket") == ["x-ticket"]
    finally:
        fresh.close()


def test_members_follow_entities_that_join_leave_and_move(store: Store, db_path: Path) -> None:
    """The members index is built once and then follows joins, moves, erasures and a
    whole account moving (identity merge) by the slots that changed: every answer must
    equal SQLite's, member for member and owner for owner."""
    rng = np.random.default_rng(8)
    accounts = [f"a{i}" for i in range(12)]
    store.upsert_entities([EntityRecord(a, "account") for a in accounts])
    store.upsert_entities(
        [EntityRecord(f"c{i:03d}", "contact", accounts[i % 12]) for i in range(200)]
    )
    asked = [*accounts[::-1], "a3", "nobody", "a20"]  # repeats, unknowns, any order

    def same() -> None:
        reader = Store(db_path)
        try:
            got_ids, got_owner = store.mirrored().members_of(asked, "contact")
            want_ids, want_owner = reader.members_of(asked, "contact")
        finally:
            reader.close()
        assert sorted(zip(got_owner.tolist(), got_ids, strict=True)) == sorted(
            zip(want_owner.tolist(), want_ids, strict=True)
        )

    same()  # the index is built here
    for step in range(5):
        moves = [
            EntityRecord(f"c{i:03d}", "contact", accounts[int(rng.integers(0, 12))])
            for i in rng.integers(0, 260, 15)  # some new contacts, some moving
        ]
        store.upsert_entities([*moves, EntityRecord(f"a{12 + step}", "account")])
        store.erase_entity(f"c{int(rng.integers(0, 200)):03d}")
        same()
    store.merge_identities([("a1", "a2")], 0.0)  # every member of a1 moves to a2
    same()


def test_kinds_and_bare_rows_skip_what_the_mirror_holds_and_stay_exact(store: Store) -> None:
    """With the mirror built, set_entity_kinds and ensure_entities send SQLite only the
    rows that change; the rows must still be exactly what SQL alone would leave."""
    store.upsert_entities([EntityRecord("a", "contact"), EntityRecord("b", "account")])
    store.mirrored().entity_ids(kind="contact")  # builds the mirror
    assert store.ensure_entities(["a", "b", "c", "c"], kind="contact") == 1
    store.set_entity_kinds(["a", "b", "d"], ["contact", "contact", "ticket"], 1.0)
    # One id twice in one call: rows apply in order, the last kind wins.
    store.set_entity_kinds(["c", "c"], ["ticket", "contact"], 2.0)
    rows = dict(store.conn.execute("SELECT id, kind FROM entities").fetchall())
    assert rows == {"a": "contact", "b": "contact", "c": "contact", "d": "ticket"}
    mirrored = store.mirrored()
    assert mirrored.entity_ids(kind="contact") == ["a", "b", "c"]
    assert mirrored.entity_ids(kind="ticket") == ["d"]
    assert store._entities.existing(store.conn, ["a", "zz"]).tolist() == [True, False]


def test_bare_rows_created_are_mirrored_as_sqlite_reads_them(store: Store, db_path: Path) -> None:
    """The bare rows ensure_entities creates go into the mirror as written, not read
    back: every kept column (categorical, numeric, a member's `by`), the kind, the
    account, the id order and the members index must equal a fresh SQLite read."""
    store.upsert_entities(
        [
            EntityRecord("acme", "account"),
            EntityRecord("c1", "contact", "acme", {"industry": "x"}, {"employees": 5.0}),
        ]
    )
    mirrored = store.mirrored()
    columns = (["industry"], ["employees"])
    mirrored.attributes(["c1"], *columns)  # builds the mirror and two kept columns
    mirrored.member_scores("lead_qualification", ["acme"], ["seniority"])  # and a raw one
    with store.transaction():
        created = store.ensure_entities(["c1", "n1", "n2", "n1"], kind="contact", now=3.0)
        created += store.ensure_entities(["m1"], kind="contact", account_id="acme", now=3.0)
    assert created == 3
    ids = ["acme", "c1", "n1", "n2", "m1", "none"]
    reader = Store(db_path)
    try:
        got, want = mirrored.attributes(ids, *columns), reader.attributes(ids, *columns)
        assert got["industry"].vocabulary == want["industry"].vocabulary  # type: ignore[union-attr]
        np.testing.assert_array_equal(got["industry"].codes, want["industry"].codes)  # type: ignore[union-attr]
        np.testing.assert_array_equal(got["employees"], want["employees"])
        assert mirrored.kinds_of(ids).tolist() == [
            reader.entity_columns(ids).get(i, ("",))[0] for i in ids
        ]
        assert mirrored.account_ids(ids) == [
            reader.entity_columns(ids).get(i, ("", ""))[1] for i in ids
        ]
        assert mirrored.entity_ids("contact") == reader.entity_ids(kind="contact")
        got_members, _ = mirrored.members_of(["acme"], "contact")
        assert sorted(got_members) == sorted(reader.members_of(["acme"], "contact")[0])
    finally:
        reader.close()


def test_mirrored_kinds_and_accounts_answer_as_sqlite_does(store: Store) -> None:
    """The rescorer reads kinds and accounts through the mirror (no SQLite per ingest):
    the answers must be the Store's own, rows written in the open transaction included."""
    store.upsert_entities(
        [
            EntityRecord("c1", "contact", "acme"),
            EntityRecord("c2", "contact", "acme"),
            EntityRecord("c3", "contact", "globex"),
            EntityRecord("t1", "ticket", "acme"),
            EntityRecord("acme", "account"),
            EntityRecord("lone", "contact"),
        ]
    )
    mirrored = store.mirrored()
    ids = ["c1", "c3", "t1", "lone", "nobody", "acme"]
    with store.transaction():
        store.upsert_entities([EntityRecord("c3", "contact", "initech")])  # moves, uncommitted
        stored = store.entity_columns(ids)
        assert mirrored.kinds_of(ids).tolist() == [stored.get(i, ("",))[0] for i in ids]
        for kind in (None, "contact", "ticket", "account"):
            assert mirrored.accounts_of(ids, kind) == store.accounts_of(ids, kind)
        for kind in ("contact", "ticket"):
            accounts = ["acme", "initech", "globex"]
            assert mirrored.entities_of_accounts(accounts, kind) == store.entities_of_accounts(
                accounts, kind
            )


def test_attribute_columns_built_in_slices_are_the_one_pass_ones(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column is built GIL_SLICE rows at a time on first use (after a start or a
    rollback), so no C loop over every row keeps the GIL: the same codes, values, type
    and answers as one pass over every row, with the text codes outgrowing int8 and the
    numbers float32 in later slices, and a last part shorter than a slice."""
    n = 2 * GIL_SLICE + 300
    ids = [f"e{i:05d}" for i in range(n)]

    def industry(i: int) -> dict[str, str]:
        return {} if i % 11 == 0 else {"industry": f"v{i % (50 if i < GIL_SLICE else 400)}"}

    def employees(i: int) -> dict[str, float]:
        return {} if i % 13 == 0 else {"employees": i + (0.1 if i >= 2 * GIL_SLICE else 0.0)}

    store.upsert_entities(
        [
            EntityRecord(e, "contact", attributes=industry(i), numeric_attributes=employees(i))
            for i, e in enumerate(ids)
        ]
    )
    coded: list[int] = []  # rows per call of the coding (C loops over what it is given)
    code = _Column.code

    def counted(column: _Column, raw: list[object]) -> np.ndarray:
        coded.append(len(raw))
        return code(column, raw)

    monkeypatch.setattr(_Column, "code", counted)
    reader = Store(db_path)  # a start: its mirror builds every column on first use
    try:
        got = reader.mirrored().attributes(ids, ["industry"], ["employees"])
        assert max(coded) == GIL_SLICE and sum(coded) == 2 * n  # two columns, in slices
        monkeypatch.undo()
        want = reader.attributes(ids, ["industry"], ["employees"])  # SQLite's own read
        assert got["industry"].vocabulary == want["industry"].vocabulary  # type: ignore[union-attr]
        np.testing.assert_array_equal(got["industry"].codes, want["industry"].codes)  # type: ignore[union-attr]
        np.testing.assert_array_equal(got["employees"], want["employees"])
        built = reader._entities._columns
        for (kind, _), column in built.items():
            # What the build did before it was sliced: every row in one pass.
            empty = np.zeros(0, np.float32 if column.numeric else np.int8)
            one_pass = _Column(column.sql, column.params, column.numeric, empty)
            one_pass.grown(len(column.data))
            rows = reader.conn.execute(
                f"SELECT e.id, {column.sql} FROM entities AS e", column.params
            ).fetchall()
            at = reader._slots.of([r[0] for r in rows], add=False)
            one_pass.data[at] = one_pass.code([r[1] for r in rows])
            assert column.values == one_pass.values, kind
            assert column.data.dtype == one_pass.data.dtype, kind
            np.testing.assert_array_equal(column.data, one_pass.data)
        types = {kind: c.data.dtype for (kind, _), c in built.items()}
        assert types == {ColumnKind.TEXT: np.int16, ColumnKind.NUMBER: np.float64}  # widened
    finally:
        reader.close()
