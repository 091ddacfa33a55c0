"""TierChangeHub.drain: an ingest waits until the watch streams took what it published,
woken by the stream that takes the last change, and never longer than DRAIN_SECONDS.

Without a clock: while drain() must wait, DRAIN_SECONDS is raised far beyond the test's
own bound (only the wake-up can end it), and loop turns stand for "soon".
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from prioscore.server.handlers import WatchFilter
from prioscore.server.handlers import watch as watch_module
from prioscore.server.handlers.watch import TierChangeHub
from tests.handlers.test_watch_routing import _CountingStore, change

FOREVER = 3_600.0  # a DRAIN_SECONDS no test waits out: drain() must be woken
BOUND = 30.0  # what a test may take at most before it fails instead of hanging
_streams: set[asyncio.Task[None]] = set()  # strong references to the running watches


async def turns(n: int = 50) -> None:
    """A bounded number of loop turns: time enough for every ready task to run."""
    for _ in range(n):
        await asyncio.sleep(0)


async def gated_watch(hub: TierChangeHub, received: list[int]) -> asyncio.Queue[None]:
    """A watch stream that takes one change, then waits for one put on the gate it
    returns before it takes the next."""
    gate: asyncio.Queue[None] = asyncio.Queue()

    async def take() -> None:
        async for got in hub.watch(WatchFilter()):
            received.append(got.record.id)
            await gate.get()

    task = asyncio.create_task(take())
    _streams.add(task)
    task.add_done_callback(_streams.discard)
    await turns(1)  # its first step registers the watcher
    assert hub.watcher_count >= 1
    return gate


def test_drain_returns_once_the_last_change_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not before (one change taken is not all of them), and every drain waiting is woken,
    round after round (a spent wake-up must not end the next round's drain early)."""
    monkeypatch.setattr(watch_module, "DRAIN_SECONDS", FOREVER)

    async def run() -> list[int]:
        hub = TierChangeHub()
        received: list[int] = []
        gate = await gated_watch(hub, received)
        for first in (1, 4):
            hub.publish(
                [change(n, "lead_qualification", "hot") for n in range(first, first + 3)], {}
            )
            drains = [asyncio.create_task(hub.drain()) for _ in range(2)]  # two ingest streams
            await turns()
            assert hub.backlog == 2 and received[-1] == first  # the stream took one, waits
            assert not any(d.done() for d in drains)
            for left in (1, 0):
                gate.put_nowait(None)
                await turns()
                assert hub.backlog == left
                assert all(d.done() for d in drains) == (left == 0)
            for d in drains:
                await d  # none raised
            gate.put_nowait(None)  # the stream waits on its queue again, empty now
            await turns()
        return received

    assert asyncio.run(asyncio.wait_for(run(), BOUND)) == [1, 2, 3, 4, 5, 6]


def test_drain_returns_when_the_watcher_leaves_with_changes_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a closed stream never took is no backlog: that wakes drain() too."""
    monkeypatch.setattr(watch_module, "DRAIN_SECONDS", FOREVER)

    async def run() -> None:
        hub = TierChangeHub()
        await gated_watch(hub, [])
        hub.publish([change(n, "lead_qualification", "hot") for n in (1, 2, 3)], {})
        drain = asyncio.create_task(hub.drain())
        await turns()
        assert hub.backlog == 2 and not drain.done()
        hub.close()  # server shutdown: the stream ends with UNAVAILABLE
        await turns()
        assert hub.backlog == 0 and drain.done()
        await drain

    asyncio.run(asyncio.wait_for(run(), BOUND))


def test_drain_gives_up_at_the_deadline_on_a_watcher_that_does_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drain_seconds = 0.05
    monkeypatch.setattr(watch_module, "DRAIN_SECONDS", drain_seconds)

    async def run() -> tuple[float, int]:
        hub = TierChangeHub()
        await gated_watch(hub, [])  # takes one change and never reads again
        hub.publish([change(n, "lead_qualification", "hot") for n in (1, 2, 3)], {})
        start = time.monotonic()
        await hub.drain()
        return time.monotonic() - start, hub.backlog

    waited, backlog = asyncio.run(asyncio.wait_for(run(), BOUND))
    assert backlog == 2  # nothing was taken: the deadline ended it
    # It did wait (the timer may fire up to the clock's resolution early), and not for
    # much longer than the deadline (generous: the machine may be busy).
    assert drain_seconds * 0.9 <= waited < drain_seconds + 2.0


def test_changes_the_writer_publishes_wake_the_drain_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """publish_changes from another thread hands the changes to the loop (where the
    backlog and the wake-up live); the loop's drain returns once they are taken."""
    monkeypatch.setattr(watch_module, "DRAIN_SECONDS", FOREVER)
    publishers: list[threading.Thread] = []

    async def run() -> tuple[list[int], int]:
        hub = TierChangeHub()
        hub.bind(asyncio.get_running_loop())
        received: list[int] = []
        gate = await gated_watch(hub, received)
        for _ in range(3):
            gate.put_nowait(None)  # this stream reads as fast as changes come

        def publish() -> None:
            publishers.append(threading.current_thread())
            records = [change(n, "lead_qualification", "hot") for n in (1, 2, 3)]
            hub.publish_changes(records, _CountingStore())  # type: ignore[arg-type]

        # The thread's publish reaches the loop before to_thread's own result does.
        await asyncio.to_thread(publish)
        await hub.drain()
        return received, hub.backlog

    received, backlog = asyncio.run(asyncio.wait_for(run(), BOUND))
    assert publishers and publishers[0] is not threading.main_thread()
    assert received == [1, 2, 3] and backlog == 0
