"""LiveCore: the writer, the rescorer and the clock, built and stopped together.

The handlers submit every write here (`run`), rescore through `rescorer`, promote
through `promotions`, and hear of the clock's tier changes through the `publish`
callback they install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from prioscore.server.clock import Clock
from prioscore.server.core.live_events import LiveEvents
from prioscore.server.core.promotions import Promotions
from prioscore.server.core.refresh import Publish, Refresher
from prioscore.server.core.rescoring import Rescorer
from prioscore.server.core.shadows import ShadowSet
from prioscore.server.core.worker import CoreWorker
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.scoring import StoredScorer
from prioscore.server.store import Store, TierChangeRecord

T = TypeVar("T")


class LiveCore:
    """Owns the writer thread and the clock's sweeps over one store."""

    def __init__(
        self,
        store: Store,
        registry: ProfileRegistry,
        live: LiveEvents,
        scorer: StoredScorer,
        shadows: ShadowSet,
        clock: Clock,
    ) -> None:
        """`scorer` must read `live` (the writer's scorer); `live` is built from `store`."""
        self.clock = clock
        self.live = live
        self.worker = CoreWorker()
        self._shadows = shadows
        self.rescorer = Rescorer(store, registry, scorer, shadows)
        self.promotions = Promotions(store, registry, shadows, self.rescorer)
        self._listeners: list[Publish] = []
        self.refresher = Refresher(clock, self.worker, self.rescorer, registry, self._publish)

    def on_changes(self, listener: Publish) -> None:
        """Calls `listener(changes)` with the tier changes each sweep chunk committed."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Finishes the promotions a crash interrupted (on the writer, waited for, so
        nothing is served from a half-promoted profile), then starts the clock (whose
        first sweep is the catch-up of every profile)."""
        changes = self.worker.submit(lambda: self.promotions.recover(self.clock.now())).result()
        if changes:
            self._publish(changes)
        self.refresher.start()

    async def run(self, job: Callable[[], T]) -> T:
        """Runs a writing job on the writer and awaits it from the event loop."""
        return await self.worker.run(job)

    def settle(self, timeout: float = 30.0) -> bool:
        """Waits until what the clock made due is written (tests move the clock, then
        settle; production never needs to)."""
        return self.refresher.settle(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the clock, gives up a running stage backfill (it rolls back) and lets
        the writer finish the rest of its queue within `timeout`."""
        self._shadows.stop_backfills()
        self.refresher.stop(timeout)
        self.worker.close(timeout)

    def _publish(self, changes: list[TierChangeRecord]) -> None:
        for listener in self._listeners:
            listener(changes)


__all__ = ["LiveCore"]
