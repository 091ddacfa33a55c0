"""Builds the two handlers from one store and one profile registry.

The composition root (and tests that want a server without a process) call this, so
Service and ProfileHandlers always share the same catalog, scorer, shadows and hub.
"""

from __future__ import annotations

from dataclasses import dataclass

from prioscore.server.clock import Clock
from prioscore.server.config import Limits
from prioscore.server.handlers.catalog import ProfileCatalog
from prioscore.server.handlers.profile_handlers import ProfileHandlers
from prioscore.server.handlers.service import Service
from prioscore.server.handlers.shadows import ShadowSet
from prioscore.server.handlers.store_metrics import observe_store_size
from prioscore.server.handlers.watch import TierChangeHub
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.scoring import StoredScorer
from prioscore.server.store import Store


@dataclass(frozen=True)
class Handlers:
    """The data plane: scoring and events, and profiles, shadows and evaluation."""

    service: Service
    profiles: ProfileHandlers
    store: Store
    registry: ProfileRegistry
    clock: Clock

    def close(self) -> None:
        self.store.close()


def build_handlers(
    store: Store,
    registry: ProfileRegistry,
    *,
    limits: Limits | None = None,
    clock: Clock | None = None,
) -> Handlers:
    limits = limits or Limits()
    clock = clock or Clock()
    scorer = StoredScorer(store)
    shadows = ShadowSet(store, registry, scorer)
    catalog = ProfileCatalog(registry, shadows)
    hub = TierChangeHub()
    service = Service(store, catalog, shadows, scorer, hub, limits=limits, clock=clock.now)
    profiles = ProfileHandlers(
        store, registry, shadows, catalog, scorer, hub, limits=limits, clock=clock.now
    )
    observe_store_size(store.path)
    return Handlers(service, profiles, store, registry, clock)


__all__ = ["Handlers", "build_handlers"]
