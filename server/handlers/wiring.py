"""Builds the two handlers from one store and one profile registry.

The composition root (and tests that want a server without a process) call this, so
Service and ProfileHandlers always share the same catalog, scorer, shadows and hub.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from prioscore.server.clock import Clock
from prioscore.server.config import EntityKinds, Limits
from prioscore.server.core import LiveCore, LiveEvents, ShadowSet, settle_interrupted
from prioscore.server.engine import profile_inputs
from prioscore.server.handlers.catalog import ProfileCatalog
from prioscore.server.handlers.profile_handlers import ProfileHandlers
from prioscore.server.handlers.service import Service
from prioscore.server.handlers.store_metrics import observe_store_size
from prioscore.server.handlers.watch import TierChangeHub
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.scoring import StoredScorer
from prioscore.server.store import Store


@dataclass(frozen=True)
class Handlers:
    """The data plane: scoring and events, and profiles, shadows and evaluation, over
    the live core that writes and keeps scores current."""

    service: Service
    profiles: ProfileHandlers
    store: Store
    registry: ProfileRegistry
    clock: Clock
    core: LiveCore
    hub: TierChangeHub

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Binds the watch hub to the serving loop and starts the clock (its first sweep
        catches every stored score up to now)."""
        self.hub.bind(loop)
        self.core.start()

    def settle(self, timeout: float = 30.0) -> bool:
        """Waits until the clock's due rescoring is written (for tests that move time)."""
        return self.core.settle(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the clock and lets the writer finish what callers wait for; ends the
        evaluation processes."""
        self.core.stop(timeout)
        self.profiles.close()

    def close(self) -> None:
        self.core.stop()
        self.profiles.close()
        self.service.scorer.store.close()  # the readers' connection
        self.store.close()


def build_handlers(
    store: Store,
    registry: ProfileRegistry,
    *,
    limits: Limits | None = None,
    clock: Clock | None = None,
    kinds: EntityKinds | None = None,
) -> Handlers:
    limits = limits or Limits()
    clock = clock or Clock()
    # Before anything reads the loaded profiles: an interrupted promotion's file and
    # profile are back in one version (its readers are rescored when the core starts).
    settle_interrupted(store, registry)
    store.start_checkpoints()  # WAL checkpoints beside the writer, not inside its COMMITs
    needs = [profile_inputs(p) for p in registry.all()]
    live = LiveEvents.build(
        store,
        {s for n in needs for s in n.string_properties},
        {s for n in needs for s in n.numeric_properties},
    )
    # Calls served beside the writer read through their own connection and the events
    # the writer published at its last commit, never waiting for it.
    reader = store.reader()
    scorer = StoredScorer(reader, live.reads(reader))
    writer_scorer = StoredScorer(store, live, mirrored=True)  # the writer's: never rereads history
    shadows = ShadowSet(store, registry, writer_scorer)
    catalog = ProfileCatalog(registry, shadows)
    hub = TierChangeHub()
    core = LiveCore(store, registry, live, writer_scorer, shadows, clock)
    core.on_changes(lambda changes: hub.publish_changes(changes, store))
    service = Service(
        store, catalog, core, scorer, hub, limits=limits, clock=clock.now, kinds=kinds
    )
    profiles = ProfileHandlers(
        store, registry, shadows, catalog, scorer, hub, core, limits=limits, clock=clock.now
    )
    observe_store_size(store.path)
    return Handlers(service, profiles, store, registry, clock, core, hub)


__all__ = ["Handlers", "build_handlers"]
