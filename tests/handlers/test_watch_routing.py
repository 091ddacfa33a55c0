"""The tier-change hub routes by index: every watcher gets exactly the changes its filter
passes, and publishing never touches a watcher whose filter a change fails, so the cost
of fan-out does not grow with idle watchers (the issue: 500 idle watchers made a
1,000-entity ingest 7.8x slower). The same through a real server is
tests/rpc/test_watch_fanout.py."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence

from prioscore.server.errors import ResourceExhaustedError
from prioscore.server.handlers import WATCHER_QUEUE_SIZE, WatchedChange, WatchFilter
from prioscore.server.handlers.watch import TierChangeHub
from prioscore.server.store import Cause, TierChangeRecord

PROFILES = ("lead_qualification", "churn_risk")
TIERS = ("cold", "warm", "hot")
CAUSES = (Cause.EVENT.value, Cause.CLOCK.value, Cause.BACKFILL.value)
ACCOUNTS = ("", "acme", "globex")


def change(
    n: int, profile: str, tier: str, cause: str = Cause.EVENT.value, entity: str = ""
) -> TierChangeRecord:
    return TierChangeRecord(n, entity or f"e{n}", profile, "", tier, 0.0, 50.0, 0.0, f"m{n}", cause)


def passes(wanted: WatchFilter, record: TierChangeRecord, account: str) -> bool:
    """The filter's meaning, written out once more as the reference."""
    return (
        (not wanted.profile or wanted.profile == record.profile)
        and (not wanted.tiers or record.tier in wanted.tiers)
        and (not wanted.account_id or wanted.account_id == account)
        and (not wanted.causes or record.cause in wanted.causes)
    )


_streams: set[asyncio.Task[None]] = set()  # strong references to the running watches


async def watching(hub: TierChangeHub, filters: Sequence[WatchFilter]) -> list[list[int]]:
    """Starts one watch per filter and returns, per watch, the ids it will receive
    (asyncio.run cancels the watches at the end of each test)."""
    received: list[list[int]] = [[] for _ in filters]

    async def take(i: int, wanted: WatchFilter) -> None:
        async for got in hub.watch(wanted):
            received[i].append(got.record.id)

    for i, wanted in enumerate(filters):
        task = asyncio.create_task(take(i, wanted))
        _streams.add(task)
        task.add_done_callback(_streams.discard)
    await asyncio.sleep(0)  # each task's first step registers its watcher
    assert hub.watcher_count == len(filters)
    return received


async def delivered(hub: TierChangeHub) -> None:
    """Lets every watch stream take what is queued (no clock involved: a bounded number
    of loop turns, each stream takes one change per turn)."""
    for _ in range(10_000):
        if not hub.backlog:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{hub.backlog} changes never taken")


def test_every_watcher_gets_exactly_what_its_filter_passes() -> None:
    filters = [
        WatchFilter(p, frozenset(t), a, frozenset(c))
        for p in ("", *PROFILES)
        for t in ((), ("hot",), ("warm", "hot"))
        for a in ACCOUNTS
        for c in ((), (Cause.CLOCK.value,), (Cause.EVENT.value, Cause.BACKFILL.value))
    ]
    records = [
        change(n, p, t, c, entity=f"e{n}")
        for n, (p, t, c) in enumerate(itertools.product(PROFILES, TIERS, CAUSES), start=1)
    ]
    accounts = {r.entity_id: ACCOUNTS[r.id % 3] for r in records}

    async def run() -> list[list[int]]:
        hub = TierChangeHub()
        received = await watching(hub, filters)
        hub.publish(records, accounts)
        await delivered(hub)
        expected = sum(passes(f, r, accounts[r.entity_id]) for f in filters for r in records)
        assert hub.routed == expected  # each delivery routed once, nothing else visited
        return received

    received = asyncio.run(run())
    for wanted, got in zip(filters, received, strict=True):
        want = [r.id for r in records if passes(wanted, r, accounts[r.entity_id])]
        assert got == want, wanted
    assert any(received) and not all(received)  # the grid has both kinds of watcher


def test_publishing_never_visits_idle_watchers() -> None:
    """1,000 idle watchers (another profile, another account, a tier and a cause no
    change has) beside 2 matching ones: the hub hands out 2 watchers per change."""
    idle = [
        WatchFilter("churn_risk"),
        WatchFilter("lead_qualification", account_id="nobody"),
        WatchFilter("lead_qualification", tiers=frozenset({"hot"})),
        WatchFilter("lead_qualification", causes=frozenset({Cause.CLOCK.value})),
    ] * 250
    matching = [WatchFilter("lead_qualification"), WatchFilter()]
    records = [change(n, "lead_qualification", "cold") for n in range(1, 501)]

    async def run() -> list[list[int]]:
        hub = TierChangeHub()
        received = await watching(hub, [*idle, *matching])
        hub.publish(records, {})
        assert hub.routed == len(records) * len(matching)
        assert hub.backlog == len(records) * len(matching)
        await delivered(hub)
        return received

    received = asyncio.run(run())
    assert not any(received[: len(idle)])
    assert received[len(idle) :] == [[r.id for r in records]] * len(matching)


class _CountingStore:
    """A store stand-in (and its mirror) that records which entities' accounts were read."""

    def __init__(self) -> None:
        self.reads: list[list[str]] = []

    def mirrored(self) -> _CountingStore:
        return self

    def account_ids(self, ids: Sequence[str]) -> list[str]:
        self.reads.append(list(ids))
        return ["acme"] * len(ids)


def test_accounts_are_read_only_for_changes_someone_may_want() -> None:
    """The writer reads accounts (from its entity mirror) only for changes that can reach a
    watcher: idle watchers on another profile, tier or cause cost no read at all."""
    store = _CountingStore()
    records = [change(n, "lead_qualification", "cold") for n in range(1, 101)]
    hot = change(101, "lead_qualification", "hot")

    async def run() -> list[list[int]]:
        hub = TierChangeHub()
        got = await watching(
            hub,
            [
                WatchFilter("churn_risk"),
                WatchFilter("lead_qualification", tiers=frozenset({"hot"})),
                WatchFilter("lead_qualification", causes=frozenset({Cause.CLOCK.value})),
            ],
        )
        hub.publish_changes(records, store)  # type: ignore[arg-type]
        assert store.reads == [] and hub.routed == 0
        hub.publish_changes([*records, hot], store)  # type: ignore[arg-type]
        assert store.reads == [[hot.entity_id]]
        await delivered(hub)
        assert hub.routed == 1
        return got

    assert asyncio.run(run()) == [[], [hot.id], []]


def test_backlog_forgets_what_a_closed_or_overrun_watcher_never_took() -> None:
    """drain() waits on the backlog: a watcher that ends with changes queued must not
    leave them counted, or every later ingest would wait out DRAIN_SECONDS."""

    async def run() -> None:
        hub = TierChangeHub()
        await watching(hub, [WatchFilter()])
        hub.publish([change(1, "lead_qualification", "cold")], {})
        assert hub.backlog == 1
        hub.close()
        assert hub.backlog == 0

    asyncio.run(run())


def test_a_watcher_overrun_in_the_middle_of_a_batch_ends_there() -> None:
    """A publish queues one batch per watcher; a watcher that falls more than
    WATCHER_QUEUE_SIZE changes behind while it is still yielding an earlier batch ends
    with RESOURCE_EXHAUSTED after the change it was on, and nothing stays counted."""

    async def run() -> tuple[list[int], str]:
        hub = TierChangeHub()
        stream = hub.watch(WatchFilter())
        first = [change(i, "lead_qualification", "cold") for i in range(1, 4)]
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)  # registered, waiting for its first batch
        hub.publish(first, {})
        got = [(await waiting).record.id]
        assert hub.backlog == 2  # the rest of its batch
        flood = [change(10 + i, "lead_qualification", "hot") for i in range(WATCHER_QUEUE_SIZE)]
        hub.publish(flood, {})  # 2 + 10,000 > WATCHER_QUEUE_SIZE: it is overrun
        assert hub.backlog == 0
        try:
            async for more in stream:
                got.append(more.record.id)
        except ResourceExhaustedError as error:
            return got, error.reason
        raise AssertionError("the overrun stream did not end")

    got, reason = asyncio.run(run())
    assert got == [1] and reason == "WATCHER_TOO_SLOW"


def test_watchers_of_one_filter_share_each_commits_batch() -> None:
    """watch_batches: a publish is one batch per watcher, the same object for watchers
    the same keys matched (one message serves them all), cut into `most` at a time,
    in publish order across tiers; the changes are the one-by-one watch's."""

    async def run() -> None:
        hub = TierChangeHub()
        wanted = WatchFilter(profile="lead_qualification")
        streams = [hub.watch_batches(wanted, None, most) for most in (1_000, 1_000, 2)]
        one_by_one = hub.watch(wanted)
        firsts = [asyncio.ensure_future(anext(s)) for s in [*streams, one_by_one]]
        await asyncio.sleep(0)  # all registered
        records = [change(i, PROFILES[i % 2], TIERS[i % 3]) for i in range(1, 12)]
        hub.publish(records, {})
        mine = [r.id for r in records if r.profile == "lead_qualification"]
        a, b, c, single = [await f for f in firsts]
        assert a is b and [x.record.id for x in a] == mine  # shared, in publish order
        cut = [c, *[await anext(streams[2]) for _ in range(2)]]
        assert [len(p) for p in cut] == [2, 2, 1] and [x.record.id for p in cut for x in p] == mine
        rest = [single.record.id, *[(await anext(one_by_one)).record.id for _ in mine[1:]]]
        assert rest == mine and hub.backlog == 0

    asyncio.run(run())


def test_a_resumed_batched_watch_has_no_gap_and_no_repeat() -> None:
    """Replay pages come `most` at a time; live batches skip what the replay yielded."""

    async def run() -> list[list[int]]:
        hub = TierChangeHub()
        stored = [change(i, "lead_qualification", "warm") for i in range(1, 6)]

        async def replay() -> AsyncIterator[WatchedChange]:
            hub.publish(stored[3:], {})  # committed while the replay reads: queued too
            for record in stored:
                yield WatchedChange(record, "")

        stream = hub.watch_batches(WatchFilter(), replay(), 2)
        got = [[x.record.id for x in await anext(stream)] for _ in range(3)]
        hub.publish([change(6, "lead_qualification", "hot")], {})
        got.append([x.record.id for x in await anext(stream)])
        assert hub.backlog == 0
        return got

    assert asyncio.run(run()) == [[1, 2], [3, 4], [5], [6]]
