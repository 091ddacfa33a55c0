"""ProfileHandlers: the profile use cases (list, get, validate, reload), the shadow
lifecycle (stage, promote, delete) and evaluation (backtest, calibrate, compare).

Beside Service, not above it: both are built by the composition root from the
collaborators they need, and share only the catalog, the scorer and the watch hub.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from opentelemetry import metrics

from prioscore.server.config import Limits
from prioscore.server.engine import Profile
from prioscore.server.errors import ProfileIssue
from prioscore.server.handlers.catalog import ProfileCatalog
from prioscore.server.handlers.evaluation import (
    BacktestResult,
    CalibrateResult,
    CompareResult,
    EvaluationContext,
    Outcomes,
    run_backtest,
    run_calibrate,
    run_compare,
)
from prioscore.server.handlers.paging import decode_token, encode_token, fingerprint, page_size
from prioscore.server.handlers.shadows import (
    PromoteResult,
    ShadowSet,
    StagedProfile,
    StageResult,
)
from prioscore.server.handlers.watch import TierChangeHub
from prioscore.server.profiles import ProfileRegistry, ReloadResult
from prioscore.server.scoring import StoredScorer
from prioscore.server.store import SHADOW_SUFFIX, Store

_tier_changes = metrics.get_meter("prioscore.server").create_counter(
    "prioscore.tier_changes", unit="{change}"
)


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
        *,
        limits: Limits,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._registry = registry
        self._shadows = shadows
        self._catalog = catalog
        self._scorer = scorer
        self._hub = hub
        self._limits = limits
        self._clock = clock
        self._evaluation = EvaluationContext(store, catalog, scorer, limits, clock)

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

    def reload_profiles(self) -> ReloadResult:
        return self._registry.reload()

    # -- shadows

    def stage_profile(self, toml: str, filename: str = "") -> StageResult:
        return self._shadows.stage(toml, filename, self._clock())

    def promote_profile(self, name: str, shadow_version: int = 0) -> PromoteResult:
        """Promotes the shadow, then rescores the profiles that read its scores (and those
        reading theirs), so no score signal keeps reading the old version's scores."""
        now = self._clock()
        result = self._shadows.promote(name, shadow_version, now)
        changes = list(result.tier_changes)
        moved = {name}
        cause = f"promote:{name}@{result.profile.version}"
        for profile in self._registry.all():  # dependency order: readers after the read
            if profile.reads_profiles & moved:
                for ids in self._scorer.population(profile):
                    with self._store.transaction():
                        rows = self._scorer.rows(profile, ids, now)
                        changes += self._store.write_scores(
                            profile.name, profile.version, rows, cause
                        )
                moved.add(profile.name)
        self._hub.publish_changes(changes, self._store)
        _tier_changes.add(len(changes))
        return replace(result, tier_changes=changes)

    def delete_shadow_profile(self, name: str) -> StagedProfile | None:
        return self._shadows.discard(name)

    # -- evaluation

    def backtest(
        self,
        outcomes: Outcomes,
        *,
        profile_name: str = "",
        candidate_toml: str = "",
        k: int = 0,
        horizon_days: float = 0.0,
        shadow_profile: str = "",
    ) -> BacktestResult:
        return run_backtest(
            self._evaluation,
            outcomes,
            profile_name=profile_name,
            candidate_toml=candidate_toml,
            k=k,
            horizon_days=horizon_days,
            shadow_profile=shadow_profile,
        )

    def calibrate(
        self,
        outcomes: Outcomes,
        *,
        profile_name: str,
        l2: float = 0.0,
        horizon_days: float = 0.0,
        k: int = 0,
    ) -> CalibrateResult:
        return run_calibrate(
            self._evaluation,
            outcomes,
            profile_name=profile_name,
            l2=l2,
            horizon_days=horizon_days,
            k=k,
        )

    def compare(
        self,
        *,
        profile_name: str,
        candidate_toml: str = "",
        candidate_profile: str = "",
        candidate_shadow: bool = False,
        k: int = 0,
        limit: int = 0,
    ) -> CompareResult:
        return run_compare(
            self._evaluation,
            profile_name=profile_name,
            candidate_toml=candidate_toml,
            candidate_profile=candidate_profile,
            candidate_shadow=candidate_shadow,
            k=k,
            limit=limit,
        )


__all__ = ["ProfileHandlers", "ProfilePage", "ProfileView"]
