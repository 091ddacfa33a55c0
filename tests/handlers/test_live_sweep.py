"""Same numbers: the clock's sweep, scored from the live state (events in memory, stored
scores compared through the store's mirror), gives what scoring over SQLite gives."""

from __future__ import annotations

import numpy as np

from prioscore.server.engine import CategoricalColumn, Hysteresis, profile_inputs
from prioscore.server.handlers import (
    GROUP,
    IDENTIFY,
    TRACK,
    Handlers,
    IncomingEntity,
    IncomingEvents,
)
from prioscore.server.scoring import StoredScorer
from prioscore.server.store import Cause, EntityRecord, Store
from prioscore.server.store.scores import CLOCK_WRITE_EPSILON

from .conftest import DAY, NOW

Row = tuple[
    str, str, str, str, float, dict[str, str], str
]  # kind, entity kind, id, event, days ago, props, account


def batch(rows: list[Row], prefix: str) -> IncomingEvents:
    n = len(rows)
    return IncomingEvents(
        message_id=[f"{prefix}-{i}" for i in range(n)],
        kind=[r[0] for r in rows],
        entity_id=[r[2] for r in rows],
        event=[r[3] for r in rows],
        ts=np.array([NOW - r[4] * DAY for r in rows]),
        value=np.full(n, np.nan),
        properties=[r[5] if r[0] == TRACK else {} for r in rows],
        metrics=[{} for _ in rows],
        traits=[r[5] if r[0] == IDENTIFY else {} for r in rows],
        numeric_traits=[{} for _ in rows],
        account_id=[r[6] for r in rows],
        entity_kind=[r[1] for r in rows],
    )


def population(handlers: Handlers) -> None:
    """Contacts in accounts, accounts with churn signals, subscriptions (quantile tiers)
    and tickets of accounts, with the attributes their profiles' fit rules read."""
    rng = np.random.default_rng(11)
    rows: list[Row] = []
    for i in range(60):
        c, a = f"c{i}", f"a{i % 8}"
        rows.append((IDENTIFY, "contact", c, "", 90, {"seniority": ["vp", "manager"][i % 2]}, ""))
        rows.append((GROUP, "contact", c, "", 90, {}, a))
        for _ in range(int(rng.integers(0, 12))):
            url = ["/pricing", "/docs/a", "/blog", "/careers"][int(rng.integers(0, 4))]
            rows.append(
                (TRACK, "contact", c, "page_view", float(rng.uniform(0, 60)), {"url": url}, "")
            )
    for i in range(8):
        for name in ["login"] * int(rng.integers(0, 20)) + ["payment_failed", "nps_response"]:
            props = {"nps_group": "detractor"} if name == "nps_response" else {}
            rows.append((TRACK, "account", f"a{i}", name, float(rng.uniform(0, 40)), props, ""))
    for i in range(30):
        for _ in range(int(rng.integers(1, 10))):
            feature = ["api", "reports", "other"][int(rng.integers(0, 3))]
            rows.append(
                (
                    TRACK,
                    "subscription",
                    f"s{i}",
                    "feature_used",
                    float(rng.uniform(0, 50)),
                    {"feature": feature},
                    "",
                )
            )
    for i in range(20):
        rows.append((GROUP, "ticket", f"t{i}", "", 5, {}, f"a{i % 8}"))
        rows.append(
            (
                TRACK,
                "ticket",
                f"t{i}",
                "ticket_opened",
                float(rng.uniform(0, 10)),
                {"author": "customer"},
                "",
            )
        )
    handlers.service.ingest(batch(rows, "pop"))
    handlers.service.upsert_entities(
        [
            IncomingEntity(
                f"s{i}",
                "subscription",
                attributes={"plan": "team"},
                numeric_attributes={"days_to_renewal": float(10 * i)},
            )
            for i in range(30)
        ]
        + [
            IncomingEntity(
                f"t{i}", "ticket", attributes={"impact": "minor", "urgency": ["high", "low"][i % 2]}
            )
            for i in range(20)
        ]
    )


def sweep(handlers: Handlers, now: float) -> None:
    handlers.clock.set(now)
    for job in handlers.core.rescorer.population_jobs(handlers.registry.all(), now, Cause.CLOCK):
        job()


def test_a_sweep_scores_what_sqlite_scores(handlers: Handlers) -> None:
    population(handlers)
    store = handlers.store
    live = StoredScorer(store, handlers.core.live, mirrored=True)  # the writer's: memory
    fresh = Store(store.path)  # another instance: events, populations from SQLite alone
    try:
        sqlite = StoredScorer(fresh)
        for days in (0.0, 2.0, 9.0, 31.0):
            now = NOW + days * DAY
            sweep(handlers, now)
            for profile in handlers.registry.all():
                ids = store.entity_ids(kind=profile.entity)
                assert ids, profile.name
                mine, truth = live.current(profile, ids, now), sqlite.current(profile, ids, now)
                np.testing.assert_allclose(mine.result.score, truth.result.score, rtol=0, atol=1e-9)
                np.testing.assert_array_equal(mine.result.tier, truth.result.tier)
                names = np.asarray((*profile.tiers.names, ""), dtype=object)[truth.result.tier]
                stored = store.get_scores(profile.name, ids)
                # a clock sweep skips moves under CLOCK_WRITE_EPSILON; tiers are exact
                # unless the profile's [alerts] hold a tier near its boundary
                got = np.array([stored[i].score for i in ids])
                assert np.abs(got - truth.result.score).max() < CLOCK_WRITE_EPSILON
                if profile.hysteresis == Hysteresis():
                    assert [stored[i].tier for i in ids] == names.tolist(), (profile.name, days)
                for one in ids[:: max(len(ids) // 5, 1)]:  # as ingest scores: a few at a time
                    mine, truth = (
                        live.current(profile, [one], now),
                        sqlite.current(profile, [one], now),
                    )
                    np.testing.assert_allclose(mine.result.score, truth.result.score, atol=1e-9)
                    np.testing.assert_array_equal(mine.result.tier, truth.result.tier)
    finally:
        fresh.close()


def assert_same(handlers: Handlers, fresh: Store, now: float) -> None:
    """Scores, tiers and attribute columns of every profile's population: the writer's
    scorer (live events, entity and score mirrors) against one over SQLite alone."""
    store = handlers.store
    live = StoredScorer(store, handlers.core.live, mirrored=True)
    sqlite = StoredScorer(fresh)
    for profile in handlers.registry.all():
        ids = store.entity_ids(kind=profile.entity)
        assert store.mirrored().entity_ids(profile.entity) == ids, profile.name
        mine, truth = live.current(profile, ids, now), sqlite.current(profile, ids, now)
        np.testing.assert_allclose(mine.result.score, truth.result.score, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(mine.result.tier, truth.result.tier)
        needs = profile_inputs(profile)
        wanted = (ids, needs.categorical_attributes, needs.numeric_attributes)
        got, want = store.mirrored().attributes(*wanted), fresh.attributes(*wanted)
        assert got.keys() == want.keys()
        for name, column in want.items():
            if isinstance(column, CategoricalColumn):
                assert isinstance(got[name], CategoricalColumn)
                assert got[name].vocabulary == column.vocabulary, name
                np.testing.assert_array_equal(got[name].codes, column.codes)
            else:
                np.testing.assert_array_equal(got[name], column)


def test_the_mirror_follows_every_entity_change(handlers: Handlers) -> None:
    """Upserts (attributes, kinds, account moves), identify and group, identity merges,
    erasure and a rolled-back upsert: the mirror answers what SQLite answers after each."""
    population(handlers)
    service, store = handlers.service, handlers.store
    fresh = Store(store.path)
    try:
        now = NOW + DAY
        sweep(handlers, now)  # the mirror is built and in use
        assert_same(handlers, fresh, now)
        service.upsert_entities(
            [IncomingEntity(f"s{i}", "subscription", attributes={"plan": "enterprise"},
                            numeric_attributes={"days_to_renewal": 3.0}) for i in range(10)]
            + [IncomingEntity(f"t{i}", "ticket", attributes={"urgency": "high"})
               for i in range(5)]
            + [IncomingEntity(f"c{i}", "contact", account_id="a7") for i in range(6)]
        )  # fmt: skip
        assert_same(handlers, fresh, now)
        rows: list[Row] = [
            (IDENTIFY, "contact", "c10", "", 1, {"seniority": "vp"}, ""),
            (GROUP, "contact", "c11", "", 1, {}, "a2"),
            (IDENTIFY, "contact", "new1", "", 1, {"seniority": "vp"}, ""),
            (GROUP, "contact", "new1", "", 1, {}, "a1"),
            (TRACK, "contact", "new1", "page_view", 1, {"url": "/pricing"}, ""),
        ]
        service.ingest(batch(rows, "changes"))
        assert_same(handlers, fresh, now)
        anon: list[Row] = [
            (IDENTIFY, "contact", "anon1", "", 1, {"seniority": "manager", "x": "y"}, ""),
            (GROUP, "contact", "anon1", "", 1, {}, "a5"),
            (TRACK, "contact", "anon1", "page_view", 1, {"url": "/pricing"}, ""),
        ]
        service.ingest(batch(anon, "anon"))
        merges = batch([(TRACK, "contact", "c20", "page_view", 0.5, {"url": "/docs/a"}, "")], "m")
        merges.merges = [("anon1", "c20"), ("c21", "c22"), ("a6", "a4")]
        service.ingest(merges)
        assert not store.get_entities(["anon1", "c21", "a6"])
        assert_same(handlers, fresh, now)
        service.erase_entity("c30")
        service.erase_entity("a3")  # its contacts and tickets leave it
        assert_same(handlers, fresh, now)
        try:
            with store.transaction():
                store.upsert_entities([EntityRecord("s0", attributes={"plan": "team"})])
                assert store.mirrored().attributes(["s0"], ["plan"])["plan"].vocabulary == ("team",)
                raise RuntimeError("not committed")
        except RuntimeError:
            pass
        assert_same(handlers, fresh, now)
        later = now + 3 * DAY
        sweep(handlers, later)
        assert_same(handlers, fresh, later)
    finally:
        fresh.close()


def test_contributors_named_for_taken_rows_are_those_named_up_front(handlers: Handlers) -> None:
    """A sweep names contributing members only for the rows it writes: the same members
    and points as naming them for everyone and taking those rows."""
    population(handlers)
    scorer = StoredScorer(handlers.store, handlers.core.live, mirrored=True)
    rolled = [p for p in handlers.registry.all() if p.members]
    assert rolled
    for profile in rolled:
        ids = handlers.store.entity_ids(kind=profile.entity)
        eager = scorer.current(profile, ids, NOW)
        later = scorer.current(profile, ids, NOW, for_write=True)
        assert later.contributors is None
        rows = np.array([len(ids) - 1, 0, 3])
        want, got = eager.take(rows).contributors, later.take(rows).contributors
        assert want is not None and got is not None
        assert (want.entity_ids != "").any(), profile.name
        np.testing.assert_array_equal(got.entity_ids, want.entity_ids)
        np.testing.assert_array_equal(got.points, want.points)
