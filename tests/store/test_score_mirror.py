"""The store's in-memory copy of written scores (score_mirror.py) must never go stale:
write_scores compares with it, so a stale copy would lose tier changes and history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prioscore.server.store.database import EntityRecord, Store

from .builders import scores


def test_a_rolled_back_write_is_not_remembered(store: Store) -> None:
    store.write_scores("lead", 1, scores(["a"], [80], ["hot"]), "m1")
    with pytest.raises(RuntimeError), store.transaction():
        store.write_scores("lead", 1, scores(["a"], [10], ["cold"]), "m2")
        raise RuntimeError("the batch fails after its scores were written")
    changes = store.write_scores("lead", 1, scores(["a"], [10], ["cold"]), "m3")
    assert [(c.previous_tier, c.tier, c.cause_message_id) for c in changes] == [
        ("hot", "cold", "m3")
    ]


def test_an_erased_entity_scores_as_new(store: Store) -> None:
    store.upsert_entities([EntityRecord("a", "contact")])
    store.write_scores("lead", 1, scores(["a"], [80], ["hot"]), "m1")
    store.erase_entity("a")
    changes = store.write_scores("lead", 1, scores(["a"], [80], ["hot"]), "m2")
    assert [(c.previous_tier, c.tier) for c in changes] == [("", "hot")]


def test_population_is_what_sqlite_holds(store: Store, db_path: Path) -> None:
    store.write_scores("q", 1, scores(["a", "b", "c"], [1, 2, 3], ["x", "y", "z"]), "m1")
    store.write_scores(
        "q", 1, scores(["b", "d"], [5, 7], ["y", "z"], disqualified=[False, True]), "m2"
    )
    store.write_scores("q", 1, scores(["e"], [9], ["z"]), "m3")
    reader = Store(db_path)  # a second instance: reads SQLite, its mirror never loads
    try:
        for excluding in ([], ["a"], ["e", "zz"]):
            mine = np.sort(store.population_scores("q", excluding))
            theirs = np.sort(reader.population_scores("q", excluding))
            np.testing.assert_array_equal(mine, theirs)
    finally:
        reader.close()
    np.testing.assert_array_equal(np.sort(store.population_scores("q")), [1, 3, 5, 9])


def test_the_sorted_population_follows_small_and_large_writes(store: Store) -> None:
    """The mirror keeps the eligible scores sorted across writes (moved one by one, or
    dropped and rebuilt after a large write); ties, disqualification and re-qualification
    included, each answer equals SQLite's population, ascending."""
    rng = np.random.default_rng(11)
    ids = [f"e{i}" for i in range(400)]
    store.write_scores("q", 1, scores(ids, np.round(rng.random(400) * 20).tolist(), ["t"] * 400))
    for step in range(30):
        size = 300 if step % 10 == 9 else int(rng.integers(1, 6))
        chosen = rng.choice(400, size, replace=False)
        score = np.round(rng.random(size) * 20)  # coarse: many equal scores
        disqualified = (rng.random(size) < 0.2).tolist()
        picked = [ids[i] for i in chosen]
        rows = scores(picked, score.tolist(), ["t"] * size, 1000.0 + step, disqualified)
        store.write_scores("q", 1, rows)
        excluding = [ids[i] for i in rng.choice(400, 3, replace=False)]
        sql = store.conn.execute(
            "SELECT score FROM scores WHERE profile = 'q' AND disqualified = 0"
            " AND entity_id NOT IN (?, ?, ?)",
            excluding,
        ).fetchall()
        got = store.population_scores("q", excluding)
        np.testing.assert_array_equal(got, np.sort([r[0] for r in sql]))


def test_previous_rows_keep_tier_names_and_versions(store: Store) -> None:
    """Tiers are kept as codes into the mirror's tier names: what a write compares with
    must read back as the names and versions written, across profiles sharing names."""
    store.write_scores("a", 3, scores(["x", "y"], [80, 10], ["hot", "cold"]), "m1")
    store.write_scores("b", 70_000, scores(["x"], [5], ["cold"]), "m2")
    changes = store.write_scores("a", 3, scores(["x", "y", "z"], [10, 10, 50], ["cold"] * 3))
    assert sorted((c.entity_id, c.previous_tier, c.tier) for c in changes) == [
        ("x", "hot", "cold"),
        ("z", "", "cold"),
    ]
    before = store._previous_scores("b", ["x", "y"])  # what write_scores compares with
    assert before.has.tolist() == [True, False]
    assert before.tier.tolist() == ["cold", ""] and before.version.tolist() == [70_000, -1]


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
