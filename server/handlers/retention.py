"""The optional retention window (--retention-days): what is older goes, on a schedule.

The purge itself is store.purge_before (which documents its effect on scores); this
module decides when: once at start and then every PURGE_INTERVAL_SECONDS, against the
service clock, so tests drive it with the injectable clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from prioscore.server.core import LiveCore
from prioscore.server.store import PurgeCounts, Store

log = logging.getLogger("prioscore.server")
DAY_SECONDS = 86_400.0
PURGE_INTERVAL_SECONDS = 3_600.0  # a purge scans the events table: hourly, not per batch


@dataclass(frozen=True)
class Retention:
    store: Store
    clock: Callable[[], float]
    days: float
    core: LiveCore

    def purge(self) -> PurgeCounts:
        """Deletes what is older than the window now (on the writer: the live state
        drops the same events); logs what went."""
        cutoff = self.clock() - self.days * DAY_SECONDS
        counts = self.store.purge_before(cutoff)
        self.core.live.drop_before(cutoff)
        if counts.events or counts.history or counts.tier_changes:
            log.info(
                "retention %.0f days: purged %d events, %d history points, %d tier changes",
                self.days,
                counts.events,
                counts.history,
                counts.tier_changes,
            )
        return counts

    async def run(self) -> None:
        """Purges now and then every PURGE_INTERVAL_SECONDS until cancelled."""
        while True:
            await self.core.run(self.purge)
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)
