"""The retention window: events, score history and tier changes older than it go.

A mixin of Store (its connection, lock and transactions). Current scores and entity rows
stay: they are the present, rewritten at each rescore. What the purge means for scores:
an all-time aggregate (count, sum, exists, days_since_first ...) becomes an aggregate over
the window once the entity is next rescored; decayed signals with a half-life well inside
the window barely move. Watchers resuming with an after_change_id older than the window
get the changes that are left.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING


@dataclass(frozen=True)
class PurgeCounts:
    events: int
    history: int
    tier_changes: int


class RetentionQueries:
    if TYPE_CHECKING:
        conn: sqlite3.Connection
        _lock: threading.RLock
        _truncate_wal_after_commit: bool

        def _write(self) -> AbstractContextManager[None]: ...

        truncate_wal: Callable[[], None]

    def purge_before(self, cutoff: float) -> PurgeCounts:
        """Deletes events (by event time), history points and tier changes (by their
        time) older than `cutoff`, in one transaction; the WAL is truncated afterwards so
        the purged rows leave no copy behind."""
        with self._write():
            events = self.conn.execute("DELETE FROM events WHERE ts < ?", (cutoff,)).rowcount
            history = self.conn.execute(
                "DELETE FROM score_history WHERE ts < ?", (cutoff,)
            ).rowcount
            changes = self.conn.execute("DELETE FROM tier_changes WHERE ts < ?", (cutoff,)).rowcount
            if events or history or changes:
                self._truncate_wal_after_commit = True
        return PurgeCounts(events, history, changes)
