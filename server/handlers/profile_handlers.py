"""ProfileHandlers: the profile use cases (list, get, validate, reload), the shadow
lifecycle (stage, promote, delete) and evaluation (backtest, calibrate, compare).

Beside Service, not above it: both are built by the composition root from the
collaborators they need, and share only the catalog, the scorer and the watch hub.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from prioscore.server.audit import audit
from prioscore.server.config import Limits
from prioscore.server.core import (
    LiveCore,
    PromoteResult,
    ShadowSet,
    StagedProfile,
    StageResult,
)
from prioscore.server.engine import Profile
from prioscore.server.errors import ProfileIssue
from prioscore.server.handlers.catalog import ProfileCatalog
from prioscore.server.handlers.comparison import compare_job
from prioscore.server.handlers.evaluation import (
    EvaluationJob,
    Resolving,
    backtest_job,
    calibrate_job,
    evaluate,
)
from prioscore.server.handlers.evaluation_pool import EvaluationPool
from prioscore.server.handlers.paging import decode_token, encode_token, fingerprint, page_size
from prioscore.server.handlers.watch import TierChangeHub
from prioscore.server.profiles import ProfileRegistry, ReloadResult
from prioscore.server.scoring import StoredScorer
from prioscore.server.store import SHADOW_SUFFIX, Store

P = ParamSpec("P")
T = TypeVar("T")
JobFactory = Callable[Concatenate[Resolving, P], EvaluationJob[T]]


def here(make: JobFactory[P, T]) -> Callable[Concatenate[ProfileHandlers, P], T]:
    """The evaluation `make` resolves, run in this process on a read connection of its
    own: what tests and embedders call directly."""

    def run(self: ProfileHandlers, *args: P.args, **kwargs: P.kwargs) -> T:
        job = make(self._resolving, *args, **kwargs)
        with self._reads.reader() as reads:
            return evaluate(reads, self._limits, job)

    return run


def pooled(make: JobFactory[P, T]) -> Callable[Concatenate[ProfileHandlers, P], Awaitable[T]]:
    """The same evaluation, resolved here and run in an evaluation process
    (evaluation_pool.py): what the server awaits, so its GIL is never the loop's."""

    async def run(self: ProfileHandlers, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._pool.run(make(self._resolving, *args, **kwargs))

    return run


@dataclass(frozen=True)
class ProfilePage:
    """One page of loaded profiles (by name) with the shadow staged for each, if any."""

    profiles: list[tuple[Profile, StagedProfile | None]]
    next_page_token: str


@dataclass(frozen=True)
class ProfileView:
    """What GetProfile shows: `profile` as written, its staged shadow, and for a
    "<name>@shadow" request the shadow itself (`name` is then the shadow key)."""

    profile: Profile
    name: str
    shadow: StagedProfile | None
    toml: str | None = None  # the staged text, for a shadow


class ProfileHandlers:
    """Profiles, shadows and evaluation over one store and one profile directory."""

    def __init__(
        self,
        store: Store,
        registry: ProfileRegistry,
        shadows: ShadowSet,
        catalog: ProfileCatalog,
        scorer: StoredScorer,
        hub: TierChangeHub,
        core: LiveCore,
        *,
        limits: Limits,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._registry = registry
        self._shadows = shadows
        self._catalog = catalog
        self._hub = hub
        self._core = core
        self._limits = limits
        self._clock = clock
        # An evaluation reads on a connection of its own, never on the readers' one (the
        # loop's, `scorer.store`): its reads are whole populations, and a Store holds its
        # lock for a statement's whole fetch, so the loop's next stored read would wait,
        # and with it every call the loop serves. Opening one costs about a millisecond.
        self._reads = scorer.store
        self._resolving = Resolving(catalog, clock)
        self._pool = EvaluationPool(store.path, limits)

    def close(self) -> None:
        """Ends the evaluation processes (at shutdown)."""
        self._pool.close()

    # -- profiles

    def list_profiles(self, requested_size: int, page_token: str) -> ProfilePage:
        """Loaded profiles by name, keyset-paged on the name."""
        profiles = sorted(self._registry.all(), key=lambda p: p.name)
        size = page_size(requested_size, self._limits.max_page_size, default=100)
        query = fingerprint("profiles")
        position = decode_token(page_token, query, (str,))
        after = str(position[0]) if position else ""
        remaining = [p for p in profiles if p.name > after]
        page, more = remaining[:size], len(remaining) > size
        token = encode_token(query, [page[-1].name]) if more else ""
        return ProfilePage([(p, self._shadows.get(p.name)) for p in page], token)

    def get_profile(self, name: str) -> ProfileView:
        profile = self._catalog.get(name, "name")
        staged = self._shadows.get(profile.name.removesuffix(SHADOW_SUFFIX))
        if staged is not None and profile is staged.scoring:  # "<name>@shadow" itself
            return ProfileView(staged.candidate, staged.key, staged, staged.toml)
        return ProfileView(profile, profile.name, staged)

    def validate_profile(
        self, toml: str, filename: str
    ) -> tuple[Profile | None, tuple[ProfileIssue, ...]]:
        return self._registry.validate(toml, filename or "<request>")

    async def areload_profiles(self) -> ReloadResult:
        """reload_profiles() on the writer (a reload may drop shadows it invalidates)."""
        return await self._core.run(self.reload_profiles)

    def reload_profiles(self) -> ReloadResult:
        """Re-reads the directory, all or nothing; the clock then rescores every stored
        entity under each added or changed profile at once (cause RELOAD)."""
        result = self._registry.reload()
        outcome = "ok" if result.ok else "rejected"
        audit("reload", outcome=outcome, loaded=len(result.loaded), issues=len(result.issues))
        return result

    # -- shadows

    async def astage_profile(self, toml: str, filename: str = "") -> StageResult:
        """stage_profile() on the writer: its backfill never blocks serving."""
        return await self._core.run(lambda: self.stage_profile(toml, filename))

    def stage_profile(self, toml: str, filename: str = "") -> StageResult:
        result = self._shadows.stage(toml, filename, self._clock())
        staged = result.staged.candidate
        audit("stage", profile=staged.name, version=staged.version, filename=filename or "-")
        return result

    async def apromote_profile(self, name: str, shadow_version: int = 0) -> PromoteResult:
        """promote_profile() on the writer, awaited from the event loop."""
        return await self._core.run(lambda: self.promote_profile(name, shadow_version))

    def promote_profile(self, name: str, shadow_version: int = 0) -> PromoteResult:
        """Promotes the shadow and rescores the profiles that read its scores
        (core/promotions.py: crash-safe; a retry naming the promoted version answers
        again), then publishes the tier changes."""
        result = self._core.promotions.promote(name, shadow_version, self._clock())
        self._hub.publish_changes(result.tier_changes, self._store)
        audit(
            "promote",
            profile=name,
            version=result.profile.version,
            previous=result.previous.version,
            tier_changes=len(result.tier_changes) + result.earlier_changes,
        )
        return result

    async def adelete_shadow_profile(self, name: str) -> StagedProfile | None:
        return await self._core.run(lambda: self.delete_shadow_profile(name))

    def delete_shadow_profile(self, name: str) -> StagedProfile | None:
        discarded = self._shadows.discard(name)
        audit("discard", profile=name, found=discarded is not None)
        return discarded

    # -- evaluation: read-only and CPU-heavy, so neither on the loop nor on the writer

    backtest = here(backtest_job)
    calibrate = here(calibrate_job)
    compare = here(compare_job)
    abacktest = pooled(backtest_job)
    acalibrate = pooled(calibrate_job)
    acompare = pooled(compare_job)


__all__ = ["ProfileHandlers", "ProfilePage", "ProfileView"]
