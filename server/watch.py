"""Fan-out of tier changes to live watchers (WatchTierChanges).

One asyncio queue per watcher, bounded so a stalled watcher cannot grow memory without
limit: when its queue is full the watcher is marked overrun and its stream ends with an
error instead of silently missing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass, field

from prioscore.server.errors import ResourceExhaustedError
from prioscore.server.store import TierChangeRecord

WATCHER_QUEUE_SIZE = 10_000


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


@dataclass(eq=False)
class _Watcher:
    filter: WatchFilter
    queue: asyncio.Queue[WatchedChange | None] = field(
        default_factory=lambda: asyncio.Queue(WATCHER_QUEUE_SIZE)
    )
    overrun: bool = False


class TierChangeHub:
    """Publishes committed tier changes to every matching watcher, without blocking."""

    def __init__(self) -> None:
        self._watchers: set[_Watcher] = set()

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    @property
    def backlog(self) -> int:
        """Changes queued for watch streams and not yet taken by them."""
        return sum(w.queue.qsize() for w in self._watchers)

    def publish(self, changes: Iterable[TierChangeRecord], accounts: dict[str, str]) -> None:
        """Queues each change for the watchers whose filter it passes.

        `accounts` maps entity id to account id for the account filter; called only
        after the transaction that recorded the changes has committed.
        """
        if not self._watchers:
            return
        for record in changes:
            change = WatchedChange(record, accounts.get(record.entity_id, ""))
            for watcher in self._watchers:
                if watcher.overrun or not _matches(watcher.filter, change):
                    continue
                try:
                    watcher.queue.put_nowait(change)
                except asyncio.QueueFull:
                    watcher.overrun = True
                    _terminate(watcher)

    async def watch(self, wanted: WatchFilter) -> AsyncIterator[WatchedChange]:
        """Yields matching changes until the caller stops iterating (or is overrun)."""
        watcher = _Watcher(wanted)
        self._watchers.add(watcher)
        try:
            while True:
                change = await watcher.queue.get()
                if change is None:
                    if not watcher.overrun:
                        return
                    raise ResourceExhaustedError(
                        f"watcher fell more than {WATCHER_QUEUE_SIZE} changes behind"
                    )
                yield change
        finally:
            self._watchers.discard(watcher)

    def close(self) -> None:
        """Ends every watch stream (server shutdown)."""
        for watcher in self._watchers:
            _terminate(watcher)


def _terminate(watcher: _Watcher) -> None:
    """Replaces whatever is queued with the end-of-stream marker the reader awaits."""
    while not watcher.queue.empty():
        watcher.queue.get_nowait()
    watcher.queue.put_nowait(None)


def _matches(wanted: WatchFilter, change: WatchedChange) -> bool:
    return (
        (not wanted.profile or wanted.profile == change.record.profile)
        and (not wanted.tiers or change.record.tier in wanted.tiers)
        and (not wanted.account_id or change.account_id == wanted.account_id)
    )


def tier_set(tiers: Collection[str]) -> frozenset[str]:
    return frozenset(t for t in tiers if t)
