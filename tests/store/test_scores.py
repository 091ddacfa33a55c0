from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from prioscore.server.store import Cause, score_queries
from prioscore.server.store.database import EntityRecord, ScoreRows, Store
from prioscore.server.store.shadow_tables import StoredShadow

from .builders import scores


def test_first_scores_are_changes_from_nothing(store: Store) -> None:
    changes = store.write_scores(
        "lead", 1, scores(["a", "b", "c"], [80, 50, 10], ["hot", "warm", ""]), "m1"
    )
    # "" -> "" is not a change
    assert [(c.entity_id, c.previous_tier, c.tier) for c in changes] == [
        ("a", "", "hot"),
        ("b", "", "warm"),
    ]
    assert all(c.previous_score == 0.0 and c.cause_message_id == "m1" for c in changes)
    assert changes[0].score == 80.0 and changes[0].ts == 1000.0 and changes[0].profile == "lead"
    assert changes[1].id == changes[0].id + 1
    assert store.tier_changes_since(0) == changes
    # the first score always starts the history, even without a tier
    assert [p.score for p in store.score_history("c", "lead", limit=10)] == [10.0]


def test_tier_change_detection_and_history(store: Store) -> None:
    store.write_scores("lead", 1, scores(["a", "b", "c"], [80, 50, 10], ["hot", "warm", "cold"]))
    first_id = store.last_tier_change_id()
    changes = store.write_scores(
        "lead",
        2,
        scores(["a", "b", "c"], [81, 75, 10], ["hot", "hot", "cold"], ts=2000.0),
        cause_message_id="m9",
    )
    assert len(changes) == 1
    (b,) = changes
    assert (b.entity_id, b.previous_tier, b.tier, b.previous_score, b.score, b.ts) == (
        "b",
        "warm",
        "hot",
        50.0,
        75.0,
        2000.0,
    )
    assert b.id == first_id + 1 and b.cause_message_id == "m9"
    assert store.tier_changes_since(first_id) == [b]
    # history: a moved (score), b moved (tier+score), c unchanged -> no new point
    hist = {e: [(p.ts, p.score, p.tier) for p in store.score_history(e, "lead", limit=10)]
            for e in "abc"}  # fmt: skip
    assert hist["a"] == [(2000.0, 81.0, "hot"), (1000.0, 80.0, "hot")]
    assert hist["b"] == [(2000.0, 75.0, "hot"), (1000.0, 50.0, "warm")]
    assert hist["c"] == [(1000.0, 10.0, "cold")]
    assert store.score_history("a", "lead", limit=10)[0].profile_version == 2
    # scores hold the latest row for everyone, including the unchanged c
    got = store.get_scores("lead", ["a", "b", "c", "zz"])
    assert set(got) == {"a", "b", "c"}
    assert got["c"].updated == 2000.0 and got["c"].profile_version == 2
    assert got["b"].engagement == 37.5 and got["b"].fit == 10.0
    assert json.loads(got["b"].reasons) == ["r-b"]
    assert got["b"].disqualified is False


def test_tier_change_only_without_score_move(store: Store) -> None:
    store.write_scores("lead", 1, scores(["a"], [40], ["warm"]))
    changes = store.write_scores("lead", 1, scores(["a"], [40], ["hot"], ts=5000.0))
    assert [(c.previous_tier, c.tier) for c in changes] == [("warm", "hot")]
    assert [p.tier for p in store.score_history("a", "lead", limit=5)] == ["hot", "warm"]


def test_profiles_are_independent(store: Store) -> None:
    store.write_scores("lead", 1, scores(["a"], [80], ["hot"]))
    changes = store.write_scores("churn", 1, scores(["a"], [80], ["hot"]))
    assert len(changes) == 1  # first score under churn
    assert len(store.score_history("a", None, limit=10)) == 2
    assert [p.profile for p in store.score_history("a", "churn", limit=10)] == ["churn"]


def test_write_scores_edge_cases(store: Store) -> None:
    assert store.write_scores("lead", 1, scores([], [], [])) == []
    bad = ScoreRows(["a"], np.array([1.0, 2.0]), np.zeros(1), np.zeros(1), ["x"],
                    np.zeros(1, bool), ["[]"], 1.0)  # fmt: skip
    with pytest.raises(ValueError):
        store.write_scores("lead", 1, bad)
    # numpy str tiers and omitted reasons are accepted
    rows = ScoreRows(
        ["a"], np.array([5.0]), np.zeros(1), np.zeros(1), np.array(["cold"]),
        np.zeros(1, bool), [], 1.0,
    )  # fmt: skip
    assert [c.tier for c in store.write_scores("lead", 1, rows)] == ["cold"]
    assert store.get_scores("lead", ["a"])["a"].reasons == "[]"


def test_score_history_paging_with_before(store: Store) -> None:
    for i in range(5):
        store.write_scores("lead", 1, scores(["a"], [float(i)], ["t"], ts=100.0 + i))
    page1 = store.score_history("a", "lead", limit=2)
    assert [p.ts for p in page1] == [104.0, 103.0]
    page2 = store.score_history("a", "lead", limit=2, before=(page1[-1].ts, page1[-1].id))
    assert [p.ts for p in page2] == [102.0, 101.0]
    page3 = store.score_history("a", "lead", limit=2, before=(page2[-1].ts, page2[-1].id))
    assert [p.ts for p in page3] == [100.0]


def test_score_history_pages_keep_points_of_one_instant(store: Store) -> None:
    for i in range(7):  # seven points at one timestamp: the keyset is (ts, id)
        store.write_scores("lead", 1, scores(["a"], [float(i * 10)], ["t"], ts=100.0))
    seen, before = [], None
    while page := store.score_history("a", "lead", limit=2, before=before):
        seen += page
        before = (page[-1].ts, page[-1].id)
    assert [p.id for p in seen] == [p.id for p in store.score_history("a", "lead", limit=100)]
    assert len({p.id for p in seen}) == len(seen) == 7


def _populate(store: Store) -> None:
    rng = np.random.default_rng(7)
    n = 300
    ids = [f"e{i:03d}" for i in range(n)]
    # many ties: scores on a coarse grid
    score = np.round(rng.random(n) * 10) * 10
    tiers = np.where(score >= 70, "hot", np.where(score >= 40, "warm", "cold"))
    disq = rng.random(n) < 0.1
    store.upsert_entities([EntityRecord(id=e, account_id=f"acc{i % 4}") for i, e in enumerate(ids)])
    store.write_scores("lead", 1, scores(ids, score.tolist(), tiers.tolist(), disqualified=disq))
    store.write_scores("other", 1, scores(ids[:10], [100.0] * 10, ["hot"] * 10))


def _expected(store: Store, **f) -> list[tuple[float, str]]:
    rows = store.conn.execute(
        "SELECT s.score, s.entity_id, s.tier, s.disqualified, e.account_id"
        " FROM scores s JOIN entities e ON e.id = s.entity_id WHERE s.profile = 'lead'"
    ).fetchall()
    keep = [
        (score, eid)
        for score, eid, tier, disq, acc in rows
        if (not f.get("tiers") or tier in f["tiers"])
        and (f.get("account_id") is None or acc == f["account_id"])
        and (f.get("min_score") is None or score >= f["min_score"])
        and (f.get("include_disqualified") or not disq)
    ]
    return sorted(keep, key=lambda r: (-r[0], r[1]))


FILTERS = [
    {},
    {"include_disqualified": True},
    {"tiers": ["hot", "cold"]},
    {"account_id": "acc2"},
    {"min_score": 40.0},
    {"tiers": {"warm"}, "account_id": "acc1", "min_score": 50.0, "include_disqualified": True},
    {"account_id": "nobody"},
]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("page", [1, 7, 1000])
@pytest.mark.parametrize("small_account", [score_queries.SMALL_ACCOUNT, 0])
def test_rank_keyset_paging_through_all_rows(
    store: Store, filters: dict, page: int, small_account: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Either way an account's rows are found (member by member, or walking the rank
    index past the other accounts' rows), the same pages."""
    monkeypatch.setattr(score_queries, "SMALL_ACCOUNT", small_account)
    _populate(store)
    expected = _expected(store, **filters)
    seen: list[tuple[float, str]] = []
    after = None
    for _ in range(1000):
        rows = store.rank("lead", limit=page, after=after, **filters)
        assert len(rows) <= page
        seen += [(r.score, r.entity_id) for r in rows]
        if len(rows) < page:
            break
        after = (rows[-1].score, rows[-1].entity_id)
    assert seen == expected
    assert store.count_scores("lead", **filters) == len(expected)


def test_a_small_accounts_page_is_read_member_by_member(store: Store) -> None:
    """Its plan starts from the account's members, not from the profile's rank index."""
    _populate(store)
    where, params = store._score_filter("lead", (), "acc1", None, False, by_members=True)
    plan = [r[3] for r in store.conn.execute(f"EXPLAIN QUERY PLAN SELECT s.score{where}", params)]
    assert plan[0].startswith("SEARCH e USING") and "entities_account" in plan[0], plan
    assert not any("scores_rank" in step for step in plan), plan


def test_rank_rows_carry_everything(store: Store) -> None:
    _populate(store)
    top = store.rank("other", limit=3)
    assert [r.entity_id for r in top] == ["e000", "e001", "e002"]
    r = top[0]
    assert (r.profile, r.profile_version, r.score, r.tier, r.account_id) == (
        "other",
        1,
        100.0,
        "hot",
        "acc0",
    )
    assert store.rank("lead", limit=0) == []
    assert store.rank("nope", limit=10) == []
    # an entity without an entity row still ranks, with account_id ""
    store.write_scores("solo", 1, scores(["ghost"], [1.0], ["cold"]))
    assert store.rank("solo", limit=5)[0].account_id == ""


def test_disqualified_flag_roundtrip(store: Store) -> None:
    store.write_scores(
        "lead", 1, scores(["a", "b"], [90, 10], ["", "cold"], disqualified=[True, False])
    )
    assert [r.entity_id for r in store.rank("lead", limit=10)] == ["b"]
    got = store.rank("lead", limit=10, include_disqualified=True)
    assert [(r.entity_id, r.disqualified) for r in got] == [("a", True), ("b", False)]


def test_write_without_tracking_changes_upserts_scores_only(store: Store) -> None:
    before = store.last_tier_change_id()
    first = store.write_scores(
        "lead@shadow", 2, scores(["a", "b"], [80, 30], ["hot", "cold"]), "m1", track_changes=False
    )
    again = store.write_scores(
        "lead@shadow", 3, scores(["a"], [50], ["warm"], ts=2000.0), track_changes=False
    )
    assert first == again == []
    stored = store.get_scores("lead@shadow", ["a", "b"])
    assert (stored["a"].score, stored["a"].tier, stored["a"].profile_version) == (50, "warm", 3)
    assert stored["a"].updated == 2000.0 and stored["b"].score == 30
    assert store.score_history("a", None, limit=10) == []
    assert store.last_tier_change_id() == before
    # The rows rank like any profile's.
    assert [s.entity_id for s in store.rank("lead@shadow", limit=10)] == ["a", "b"]


def test_shadow_candidates_persist_and_delete_with_their_scores(store: Store) -> None:
    assert store.shadows() == []
    store.save_shadow(StoredShadow("lead", "[profile]\nversion = 2", "a.toml", 5.0))
    store.save_shadow(StoredShadow("churn", "x", "c.toml", 6.0))
    store.save_shadow(StoredShadow("lead", "[profile]\nversion = 3", "b.toml", 7.0))  # replaces
    assert store.shadows() == [
        StoredShadow("churn", "x", "c.toml", 6.0),
        StoredShadow("lead", "[profile]\nversion = 3", "b.toml", 7.0),
    ]
    store.write_scores("lead@shadow", 3, scores(["a"], [10], ["cold"]), track_changes=False)
    store.write_scores("lead", 1, scores(["a"], [20], ["cold"]))
    assert store.delete_shadow("lead") is True
    assert store.get_scores("lead@shadow", ["a"]) == {}
    assert store.get_scores("lead", ["a"])["a"].score == 20  # the active scores stay
    assert [s.name for s in store.shadows()] == ["churn"]
    assert store.delete_shadow("lead") is False


def test_slot_ids_write_what_their_strings_write(tmp_path: Path) -> None:
    """write_scores given a sweep's SlotIds (strings made for written rows only) stores
    the same rows, history and tier changes as given the ids as a list."""
    ids = [f"e{i}" for i in range(8)]
    first = scores(ids, [10, 20, 30, 40, 50, 60, 70, 80], ["cold"] * 4 + ["hot"] * 4)
    later = scores(
        ids, [10, 20.005, 35, 40, 50, 90, 20, 80], ["cold"] * 3 + ["hot"] * 3 + ["cold", "hot"],
        ts=2000.0,
    )  # fmt: skip
    seen = []
    for as_slots in (False, True):
        store = Store(tmp_path / f"s{as_slots}.db")
        with store.transaction():
            store.write_scores("lead", 1, first, cause=Cause.CLOCK)
        if as_slots:
            table = store._slots  # the store's own table, as the entity mirror's slots
            later = replace(later, entity_id=table.ids(table.of(ids, add=True)))
        with store.transaction():
            changes = store.write_scores("lead", 1, later, "m", cause=Cause.CLOCK)
        rows = store.conn.execute(
            "SELECT entity_id, score, tier, reasons, updated, history_ts FROM scores"
            " ORDER BY entity_id"
        ).fetchall()
        history = store.conn.execute(
            "SELECT entity_id, ts, score, tier FROM score_history ORDER BY rowid"
        ).fetchall()
        seen.append((changes, rows, history, store.get_scores("lead", ids)))
        store.close()
    assert seen[0] == seen[1]
    assert [(c.entity_id, c.tier) for c in seen[1][0]] == [("e3", "hot"), ("e6", "cold")]
