"""Promotions end to end: the shadow's promotion, its readers' rescoring, the intent's
completion, the roll-forward of an interrupted one on start, and the replay of a retry.

A promotion is in force only when its readers (the profiles whose score signals read
it, transitively) are rescored too, so the intent stays `scores_done` until they are and
becomes `complete` after. A crash in between is finished on start (`recover`, before
serving); a client that retries a promote whose answer it lost (naming the version it
promoted) gets the same answer, not NOT_FOUND for the shadow that is gone.
"""

from __future__ import annotations

import logging

from prioscore.server.core.candidates import PromoteResult
from prioscore.server.core.crash_points import crash_point
from prioscore.server.core.rescoring import Rescorer
from prioscore.server.core.shadows import ShadowSet
from prioscore.server.profiles import ProfileRegistry, load_profile_text
from prioscore.server.store import Cause, PromotionState, Store, StoredPromotion, TierChangeRecord

log = logging.getLogger("prioscore.server")


class Promotions:
    """Runs on the writer, like every write."""

    def __init__(
        self, store: Store, registry: ProfileRegistry, shadows: ShadowSet, rescorer: Rescorer
    ) -> None:
        self._store = store
        self._registry = registry
        self._shadows = shadows
        self._rescorer = rescorer

    def promote(self, name: str, expected_version: int, now: float) -> PromoteResult:
        """Promotes the shadow of `name` and rescores its readers; with nothing staged
        and `expected_version` the version last promoted (and active), answers that
        promotion again (finishing it first if a failure left it `scores_done`)."""
        if expected_version > 0 and self._shadows.get(name) is None:
            replayed = self._replay(name, expected_version, now)
            if replayed is not None:
                return replayed
        result = self._shadows.promote(name, expected_version, now)
        changes = result.tier_changes + self._rescore_readers(name, now)
        self._store.advance_promotion(name, PromotionState.COMPLETE, now, tier_changes=len(changes))
        crash_point("promote:complete")
        return PromoteResult(result.profile, result.previous, result.entities_scored, changes)

    def recover(self, now: float) -> list[TierChangeRecord]:
        """Finishes every promotion a crash left `scores_done` (core/promotion_files.py
        settled its file and registry already): rescores its readers, marks it complete.
        Returns the tier changes, for the caller to publish."""
        changes: list[TierChangeRecord] = []
        for intent in self._store.unfinished_promotions():
            changes += self._finish(intent, now)
        return changes

    def _finish(self, intent: StoredPromotion, now: float) -> list[TierChangeRecord]:
        changes = self._rescore_readers(intent.name, now)
        self._store.advance_promotion(
            intent.name,
            PromotionState.COMPLETE,
            now,
            tier_changes=intent.tier_changes + len(changes),
        )
        log.info("finished the promotion of %s to v%d", intent.name, intent.version)
        return changes

    def _replay(self, name: str, version: int, now: float) -> PromoteResult | None:
        intent = self._store.promotion(name)
        active = self._registry.get(name)
        # A `started` intent never matches: its version is not active (not committed).
        if intent is None or active is None or (intent.version, active.version) != (version,) * 2:
            return None
        changes = self._finish(intent, now) if intent.state is PromotionState.SCORES_DONE else []
        previous = load_profile_text(intent.previous_toml, intent.source)
        log.info("promotion of %s to v%d retried: answered again", name, version)
        return PromoteResult(active, previous, intent.entities_scored, changes, intent.tier_changes)

    def _rescore_readers(self, name: str, now: float) -> list[TierChangeRecord]:
        """Rescores every profile reading `name`'s scores (and those reading theirs), so
        no score signal keeps reading the old version's scores."""
        moved = {name}
        readers = []
        for profile in self._registry.all():  # dependency order: readers after the read
            if profile.reads_profiles & moved:
                readers.append(profile)
                moved.add(profile.name)
        changes: list[TierChangeRecord] = []
        for job in self._rescorer.population_jobs(readers, now, Cause.PROMOTION):
            changes += job()
            crash_point("promote:readers")
        return changes


__all__ = ["Promotions"]
