"""The store's in-memory copy of written scores (score_mirror.py) must never go stale:
write_scores compares with it, so a stale copy would lose tier changes and history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prioscore.server.engine import GIL_SLICE
from prioscore.server.store import Cause, StoredShadow
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
            mine = store.population("q", excluding).values()
            theirs = reader.population("q", excluding).values()
            np.testing.assert_array_equal(mine, theirs)
    finally:
        reader.close()
    np.testing.assert_array_equal(store.population("q").values(), [1, 3, 5, 9])


def test_the_sorted_population_follows_small_and_large_writes(store: Store) -> None:
    """The mirror keeps the eligible scores sorted across small and large writes; ties,
    disqualification and re-qualification included, each answer equals SQLite's
    population, ascending."""
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
        got = store.population("q", excluding).values()
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
    assert store._mirror.tier_names(before.tier).tolist() == ["cold", ""]
    assert before.version.tolist() == [70_000, -1]


def test_deleting_a_shadow_forgets_its_rows_and_keeps_every_other_profile(store: Store) -> None:
    """A shadow's delete (staging again, promoting) reloads no other profile's rows
    (a reload of 200k rows was one GIL-holding fetch on the writer), and a write under
    the shadow's key afterwards compares with nothing, as after its rows went."""
    store.write_scores("lead", 1, scores(["a"], [80], ["hot"]), "m1")
    store.save_shadow(StoredShadow("lead", "toml", "", 0.0))
    store.write_scores("lead@shadow", 2, scores(["a"], [40], ["warm"]), "m2")
    assert store.delete_shadow("lead")
    mirror = store._mirror
    assert mirror.loaded("lead") and not mirror.loaded("lead@shadow")
    changes = store.write_scores("lead@shadow", 2, scores(["a"], [40], ["warm"]), "m3")
    assert [(c.previous_tier, c.tier) for c in changes] == [("", "warm")]
    changes = store.write_scores("lead", 1, scores(["a"], [10], ["cold"]), "m4")
    assert [(c.previous_tier, c.tier) for c in changes] == [("hot", "cold")]


def test_a_profile_read_again_from_sqlite_is_what_was_written(store: Store, db_path: Path) -> None:
    """The mirror reads a profile from SQLite in parts (GIL_SLICE rows per fetch): read
    by a second store, more rows than one part, it holds what the writing one holds."""
    n = GIL_SLICE * 2 + 5
    ids = [f"e{i:05d}" for i in range(n)]
    rng = np.random.default_rng(5)
    tiers = np.array(["hot", "warm", "cold"])[rng.integers(0, 3, n)].tolist()
    store.write_scores("q", 4, scores(ids, rng.random(n).tolist(), tiers, 100.0), "m1")
    kept = ids[::3]  # a later write keeps history for some rows only (Cause.CLOCK)
    store.write_scores(
        "q", 4, scores(kept, rng.random(len(kept)).tolist(), ["hot"] * len(kept), 90_000.0),
        cause=Cause.CLOCK,
    )  # fmt: skip
    reader = Store(db_path)
    try:
        asked = [*ids, "nobody"]
        mine, theirs = store._previous_scores("q", asked), reader._previous_scores("q", asked)
        for field in ("has", "score", "version", "history_ts"):
            np.testing.assert_array_equal(getattr(theirs, field), getattr(mine, field))
        # Tier codes are each store's own (first seen, first coded): compared as names.
        names = reader._mirror.tier_names(theirs.tier), store._mirror.tier_names(mine.tier)
        np.testing.assert_array_equal(*names)
        assert len(set(theirs.history_ts.tolist())) == 3  # 100, 90_000 and -inf
        np.testing.assert_array_equal(
            reader.population("q").values(), store.population("q").values()
        )
    finally:
        reader.close()


def test_an_erasure_or_a_merge_empties_its_rows_and_keeps_the_rest_loaded(
    store: Store, db_path: Path
) -> None:
    """No profile is read back from SQLite after one entity goes: its slots are emptied,
    the population loses its scores, and every answer still equals SQLite's."""
    ids = [f"e{i}" for i in range(30)]
    store.upsert_entities([EntityRecord(e, "contact") for e in ids])
    store.write_scores("q", 1, scores(ids, [float(i % 9) for i in range(30)], ["t"] * 30))
    store.write_scores("r", 1, scores(ids[:10], [5.0] * 10, ["t"] * 10))
    store.population("q")  # kept sorted from now on
    store.erase_entity("e3")
    store.merge_identities([("e4", "e5")], 2_000.0)
    assert store._mirror.loaded("q") and store._mirror.loaded("r")
    fresh = Store(db_path)  # reads SQLite
    try:
        for profile in ("q", "r"):
            mine = store._previous_scores(profile, ids)
            theirs = fresh._previous_scores(profile, ids)
            for field in ("has", "score", "version", "history_ts"):
                np.testing.assert_array_equal(getattr(mine, field), getattr(theirs, field))
        np.testing.assert_array_equal(
            store.population("q").values(), fresh.population("q").values()
        )
        assert not store._previous_scores("q", ["e3", "e4"]).has.any()
    finally:
        fresh.close()
    changes = store.write_scores("q", 1, scores(["e3"], [8.0], ["t"]))
    assert [(c.previous_tier, c.tier) for c in changes] == [("", "t")]  # new again
