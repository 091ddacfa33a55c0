"""Fan-out of tier changes to live watchers (WatchTierChanges), and the replay of stored
changes that lets a watcher resume after a disconnect.

One asyncio queue per watcher, of the batches published to it (one put per watcher and
publish, not per change: 500 watchers of a 1,000-change ingest were 500,000 puts in one
loop callback), bounded by the changes it holds so a stalled watcher cannot grow memory
without limit: once it would hold more than WATCHER_QUEUE_SIZE, its stream ends with
RESOURCE_EXHAUSTED instead of silently missing changes, and at shutdown with UNAVAILABLE;
either way the client resumes with after_change_id and misses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field

from opentelemetry import metrics

from prioscore.server.errors import PrioscoreError, ResourceExhaustedError, UnavailableError
from prioscore.server.handlers.watch_routes import Key, WatchRoutes, filter_keys
from prioscore.server.store import Store, TierChangeRecord

_tier_changes = metrics.get_meter("prioscore.server").create_counter(
    "prioscore.tier_changes", unit="{change}", description="Committed tier changes, any cause"
)
WATCHER_QUEUE_SIZE = 10_000
# The most changes one batch of watch_batches() holds (WatchTierChanges'
# max_changes_per_response): a commit's changes for a watcher, or a slice of them.
MAX_CHANGES_PER_BATCH = 1_000
REPLAY_PAGE = 500  # stored tier changes read per step when a watch resumes
# How long an ingest waits, per batch, for watch streams to take the tier changes it
# published (bounded: a slow watcher cannot stall ingest).
DRAIN_SECONDS = 0.005


@dataclass(frozen=True)
class WatchedChange:
    """A committed tier change and the account of its entity (for the account filter)."""

    record: TierChangeRecord
    account_id: str


@dataclass(frozen=True)
class WatchFilter:
    """Which changes a watcher wants; empty fields match everything."""

    profile: str = ""
    tiers: frozenset[str] = frozenset()
    account_id: str = ""
    causes: frozenset[str] = frozenset()  # Cause values


@dataclass(eq=False)
class _Watcher:
    filter: WatchFilter
    # Batches of changes in publish order; None ends the stream (`ended` says why).
    queue: asyncio.Queue[tuple[WatchedChange, ...] | None] = field(default_factory=asyncio.Queue)
    queued: int = 0  # changes published to it and not yet taken (the rest of a batch too)
    ended: PrioscoreError | None = None  # why the stream ends, once it must

    @property
    def keys(self) -> list[Key]:
        wanted = self.filter
        return filter_keys(wanted.profile, wanted.account_id, wanted.tiers, wanted.causes)


class TierChangeHub:
    """Publishes committed tier changes to every matching watcher, without blocking.

    Watchers are found through WatchRoutes (by filter key), so publishing costs the
    same however many watchers are idle; the backlog is a running count for the same
    reason (ingest asks for it after every batch).
    """

    def __init__(self) -> None:
        self._watchers: set[_Watcher] = set()
        self._routes: WatchRoutes[_Watcher] = WatchRoutes()
        self._backlog = 0  # changes queued and not yet taken by their watch stream
        # Set (and dropped) when the backlog falls to zero, so drain() wakes then instead
        # of polling; made by a drain() that finds a backlog. Only the loop touches it:
        # the backlog moves only there (publish is handed to the loop, streams run on it).
        self._taken: asyncio.Event | None = None
        self._routed = 0  # (change, watcher) pairs publish() looked at, ever
        self._closed = False  # after close(), new watchers are refused (UNAVAILABLE)
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the watch streams run on: changes published from another thread
        (the writer, the clock) are handed to it, as asyncio queues require."""
        self._loop = loop

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    @property
    def backlog(self) -> int:
        """Changes queued for watch streams and not yet taken by them."""
        return self._backlog

    @property
    def routed(self) -> int:
        """(change, watcher) pairs publish() has looked at, ever: the tests hold it to
        the deliveries, so a watcher whose filter a change fails costs nothing."""
        return self._routed

    def publish_changes(self, changes: list[TierChangeRecord], store: Store) -> None:
        """publish() with each changed entity's account from the store's mirror, for the
        changes some watcher may want (only those: the account filter and the message
        need it, nothing else does). Every committed tier change passes here, whatever
        caused it, so it is counted here."""
        _tier_changes.add(len(changes))
        if not changes or not self._watchers:
            return
        may_want = self._routes.may_want
        wanted: dict[tuple[str, str, str], bool] = {}
        kept = []
        for change in changes:
            key = (change.profile, change.tier, change.cause)
            keep = wanted.get(key)
            if keep is None:
                keep = wanted[key] = may_want(*key)
            if keep:
                kept.append(change)
        if not kept:
            return
        # From the writer's entity mirror (caught up with what just committed).
        entities = list({c.entity_id: None for c in kept})
        accounts = dict(zip(entities, store.mirrored().account_ids(entities), strict=True))
        loop = self._loop
        if loop is None or _running_in(loop):
            self.publish(kept, accounts)
        else:
            loop.call_soon_threadsafe(self.publish, kept, accounts)

    async def drain(self) -> None:
        """Yields to the watch streams until they took what was published, for at most
        DRAIN_SECONDS, so a batch's changes go out before the next batch runs.

        Woken by the stream that takes the last queued change (_took), not by polling:
        a poll every 0.2 ms woke the loop up to 25 times a batch."""
        await asyncio.sleep(0)
        if not self._backlog:
            return
        if self._taken is None:  # concurrent drains (several ingest streams) share it
            self._taken = asyncio.Event()
        taken = self._taken
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                await taken.wait()
        except TimeoutError:
            pass  # a watcher that does not read must not hold ingest up

    def publish(self, changes: Iterable[TierChangeRecord], accounts: dict[str, str]) -> None:
        """Queues for each watcher, as one batch, the changes whose filter it passes (by
        index: a watcher whose filter they fail is never looked at), in order.

        Watchers that the same filter keys matched share one batch (a tuple): 500
        watchers of one profile get the same object, which rpc/watch_responses.py makes
        one message of. `accounts` maps entity id to account id for the account filter;
        called only after the transaction that recorded the changes has committed.
        """
        if not self._watchers:
            return
        route = self._routes.route
        routes: dict[Key, list[_Watcher]] = {}  # the changes of a batch share few keys
        routed: list[tuple[Key, WatchedChange]] = []
        for record in changes:
            account = accounts.get(record.entity_id, "")
            key = (record.profile, account, record.tier, record.cause)
            targets = routes.get(key)
            if targets is None:
                targets = routes[key] = route(*key)
            if targets:
                self._routed += len(targets)
                routed.append((key, WatchedChange(record, account)))
        keys_of: dict[_Watcher, list[Key]] = {}  # per (key, watcher), not (change, watcher)
        for key, targets in routes.items():
            for watcher in targets:
                keys_of.setdefault(watcher, []).append(key)
        batches: dict[tuple[Key, ...], tuple[WatchedChange, ...]] = {}
        for watcher, keys in keys_of.items():
            matched = tuple(keys)
            batch = batches.get(matched)
            if batch is None:
                wanted = set(keys)
                batch = batches[matched] = tuple(c for k, c in routed if k in wanted)
            self._queue(watcher, batch)

    def _queue(self, watcher: _Watcher, batch: tuple[WatchedChange, ...]) -> None:
        """Queues a batch for the watcher, or ends its stream if it falls too far behind."""
        if watcher.ended:
            return
        if watcher.queued + len(batch) > WATCHER_QUEUE_SIZE:
            self._terminate(
                watcher,
                ResourceExhaustedError(
                    f"watcher fell more than {WATCHER_QUEUE_SIZE} changes behind;"
                    " resume with after_change_id = the last change_id received",
                    reason="WATCHER_TOO_SLOW",
                ),
            )
            return
        watcher.queue.put_nowait(batch)
        watcher.queued += len(batch)
        self._backlog += len(batch)

    async def watch(
        self, wanted: WatchFilter, replay: AsyncIterator[WatchedChange] | None = None
    ) -> AsyncIterator[WatchedChange]:
        """Yields matching changes one at a time until the caller stops iterating (or
        is overrun): watch_batches() with one change a batch."""
        async with aclosing(self.watch_batches(wanted, replay, 1)) as batches:
            async for batch in batches:
                yield batch[0]

    async def watch_batches(
        self,
        wanted: WatchFilter,
        replay: AsyncIterator[WatchedChange] | None = None,
        most: int = MAX_CHANGES_PER_BATCH,
    ) -> AsyncGenerator[tuple[WatchedChange, ...], None]:
        """Yields matching changes, up to `most` at a time, until the caller stops
        iterating (or is overrun): a commit's changes for this watcher in one batch (the
        object publish() queued, when it fits), a replay page's likewise.

        `replay` (stored changes after a client's cursor, oldest first) is read only once
        the watcher is registered, so a change committed meanwhile is queued rather than
        lost, and queued changes the replay already yielded are skipped by id: a resumed
        watch has no gap and no repeat.
        """
        if self._closed:
            raise _shutting_down()
        watcher = _Watcher(wanted)
        keys = watcher.keys
        self._watchers.add(watcher)
        self._routes.add(watcher, keys)
        try:
            last_replayed = 0
            if replay is not None:
                page: list[WatchedChange] = []
                async for stored in replay:
                    last_replayed = stored.record.id
                    page.append(stored)
                    if len(page) == most:
                        yield tuple(page)
                        page = []
                if page:
                    yield tuple(page)
            while True:
                batch = await watcher.queue.get()
                if batch is None:
                    assert watcher.ended is not None  # set with the end-of-stream marker
                    raise watcher.ended
                if last_replayed:  # live changes the replay may have yielded already
                    fresh = tuple(c for c in batch if c.record.id > last_replayed)
                    self._took(watcher, len(batch) - len(fresh))
                    if len(fresh) == len(batch):  # ids only grow: the replay is behind us
                        last_replayed = 0
                    batch = fresh
                start = 0
                while start < len(batch) and not watcher.ended:  # ended: its None is next
                    part = batch if len(batch) <= most else batch[start : start + most]
                    start += len(part)
                    self._took(watcher, len(part))
                    yield part
        finally:
            self._watchers.discard(watcher)
            self._routes.remove(watcher, keys)
            self._empty(watcher)  # what it never took is no backlog

    def close(self) -> None:
        """Ends every watch stream with UNAVAILABLE (server shutdown): clients resume
        against the next server with after_change_id."""
        self._closed = True
        for watcher in self._watchers:
            self._terminate(watcher, _shutting_down())

    def _terminate(self, watcher: _Watcher, reason: PrioscoreError) -> None:
        """Replaces whatever is queued with the end-of-stream marker the reader awaits."""
        watcher.ended = reason
        self._empty(watcher)
        watcher.queue.put_nowait(None)

    def _empty(self, watcher: _Watcher) -> None:
        """Drops what the watcher holds (its queue, and the rest of a batch it was in)."""
        while not watcher.queue.empty():
            watcher.queue.get_nowait()
        self._took(watcher, watcher.queued)

    def _took(self, watcher: _Watcher, n: int) -> None:
        """n changes of the watcher's are gone (taken, or dropped with it); the last one
        of the backlog wakes the drain() waiting for it."""
        if not n:
            return
        watcher.queued -= n
        self._backlog -= n
        if not self._backlog and self._taken is not None:
            self._taken.set()
            self._taken = None  # the next backlog gets a fresh event


async def stored_changes(
    store: Store, wanted: WatchFilter, after_change_id: int
) -> AsyncIterator[WatchedChange]:
    """Stored changes after a resuming watcher's cursor that pass its filter, oldest
    first, a page at a time; the event loop serves other calls between pages."""
    while page := store.tier_changes_since(
        after_change_id,
        limit=REPLAY_PAGE,
        profile=wanted.profile or None,
        tiers=wanted.tiers,
        account_id=wanted.account_id,
    ):
        stored = store.entity_columns([c.entity_id for c in page])
        for record in page:
            if wanted.causes and record.cause not in wanted.causes:
                continue
            yield WatchedChange(record, stored.get(record.entity_id, ("", ""))[1])
        after_change_id = page[-1].id
        await asyncio.sleep(0)


def _shutting_down() -> UnavailableError:
    return UnavailableError(
        "server shutting down; resume with after_change_id = the last change_id received"
    )


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop runs in this thread
        return False


def tier_set(tiers: Collection[str]) -> frozenset[str]:
    return frozenset(t for t in tiers if t)
