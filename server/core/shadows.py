"""Shadow profiles: a candidate version staged beside the active one, and its promotion.

A candidate is a new version of a loaded profile (same name and entity, higher version).
Staging validates it like a reload would (the file on its own, then the cross-profile
checks over the live set with the candidate in place of its active version), scores
every stored entity the profile scores under it, and keeps it as the profile's shadow:
from then on ingest scores the shadow beside the active profile (Service._rescore).

Shadow scores live in the `scores` table under the profile key "<name>@shadow" (AIP-162
revision naming; profile names cannot contain '@'), without history or tier changes and
never published to watchers. The scoring Profile of a shadow is named by that key, so
ranking, quantile tiers and responses read and write the shadow's rows, not the active
ones; `candidate` keeps the name as written. Candidates are persisted (shadow_profiles)
so a restart restores them; one no longer valid against the live profiles is dropped
with a warning, on start and after every reload.

Promotion is one job on the writer, so no write interleaves, and it is crash-safe: a
promotion intent (store promotions: the TOML, the previous TOML, the file) commits first;
then one transaction writes the shadow's rows as the profile's scores (history and tier
changes recorded, cause PROMOTION), drops the shadow, marks the intent `scores_done`
and, just before its COMMIT, replaces the file (temp file + os.replace); the registry
then swaps the profile in one reference assignment. Profiles are immutable and every
request takes one reference, so none sees half of either version. core/promotions.py
then rescores the profiles whose score signals read the promoted one (transitively) and
marks the intent `complete`; core/promotion_files.py settles an interrupted one on start.

Cost: staging (the backfill) and promotion run on the writer (core.worker), never on
the serving thread: reads go on meanwhile, other writes wait. The stage backfill goes in
BACKFILL_CHUNK steps (bounding memory, and a shutdown's wait); the promotion's score
move is one transaction, so no reader sees half of it, of SQL statements that copy the
shadow's rows into the profile's a chunk at a time (Store.promote_chunk): the rows never
pass through Python, whose GIL the serving loop needs.

The candidate's types and cross-profile check are core.candidates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from prioscore.server.core.candidates import (
    PromoteResult,
    StagedProfile,
    StageResult,
    candidate_issues,
    shadow_key,
)
from prioscore.server.core.crash_points import crash_point
from prioscore.server.core.promotion_files import write_atomically as _write_atomically
from prioscore.server.engine import Profile
from prioscore.server.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ProfileInvalidError,
    ProfileIssue,
    ShadowVersionMismatchError,
    UnavailableError,
)
from prioscore.server.profiles import (
    ProfileRegistry,
    load_profile_text,
)
from prioscore.server.scoring import StoredScorer
from prioscore.server.store import (
    SHADOW_SUFFIX,
    Cause,
    PromotionState,
    Store,
    StoredPromotion,
    StoredShadow,
    TierChangeRecord,
)

__all__ = ["ShadowSet"]

log = logging.getLogger("prioscore.server")

DEFAULT_FILENAME = "<candidate>"
# Ids per step of a stage backfill and of a promotion's score move: bounds memory, and
# how long a shutdown waits for a backfill to give up (it checks between steps).
BACKFILL_CHUNK = 10_000


class ShadowSet:
    """The staged shadows by profile name, their stored scores and their promotion.

    Methods are synchronous and run on the service's thread (like Service's), so a
    stage, a promotion or a discard is never interleaved with a request.
    """

    def __init__(
        self,
        store: Store,
        registry: ProfileRegistry,
        scorer: StoredScorer,
        *,
        chunk: int = BACKFILL_CHUNK,
    ) -> None:
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        self._store = store
        self._registry = registry
        self._scorer = scorer
        self._chunk = chunk
        self._staged: dict[str, StagedProfile] = {}
        self._stopping = threading.Event()
        self.restore()
        registry.on_reload(self.reconcile)

    # -- lookups

    def get(self, name: str) -> StagedProfile | None:
        """The shadow staged for profile `name`, if any."""
        return self._staged.get(name)

    def all(self) -> list[StagedProfile]:
        return list(self._staged.values())

    def resolve(self, key: str) -> Profile | None:
        """The scoring profile of a shadow key ("<name>@shadow"), or None."""
        if not key.endswith(SHADOW_SUFFIX):
            return None
        staged = self._staged.get(key.removesuffix(SHADOW_SUFFIX))
        return staged.scoring if staged is not None else None

    def require(self, name: str, field: str) -> StagedProfile:
        """The shadow of loaded profile `name`; NotFoundError naming `field` otherwise."""
        if not name:
            raise InvalidArgumentError.of(field, "required")
        if self._registry.get(name) is None:
            raise NotFoundError("profile", name, field)
        staged = self._staged.get(name)
        if staged is None:
            raise NotFoundError("profile", shadow_key(name), field)
        return staged

    # -- stage

    def check(self, text: str, filename: str) -> Profile:
        """The candidate of `text`, valid as a shadow of the live set, or
        ProfileInvalidError with every issue (file, line, key)."""
        candidate = load_profile_text(text, filename)
        profiles = {p.name: p for p in self._registry.all()}
        issues = candidate_issues(profiles, candidate, text)
        if issues:
            raise ProfileInvalidError(issues)
        return candidate

    def stage(self, text: str, filename: str, now: float) -> StageResult:
        """Validates, persists and backfills a candidate, replacing an earlier shadow of
        its profile; all in one transaction, so a failure stages nothing."""
        if not text.strip():
            raise InvalidArgumentError.of("toml", "required: the candidate profile's TOML")
        filename = filename or DEFAULT_FILENAME
        candidate = self.check(text, filename)
        key = shadow_key(candidate.name)
        staged = StagedProfile(candidate, replace(candidate, name=key), text, filename, now)
        log.info("staging %s v%d: backfilling its scores", candidate.name, staged.version)
        with self._store.transaction():
            self._store.delete_shadow(candidate.name)  # an earlier shadow and its scores
            self._store.save_shadow(StoredShadow(candidate.name, text, filename, now))
            scored = self._backfill(staged, now)
        self._staged[candidate.name] = staged
        log.info(
            "staged %s v%d as %s (%d entities scored)", candidate.name, staged.version, key, scored
        )
        return StageResult(staged, scored)

    def _backfill(self, staged: StagedProfile, now: float) -> int:
        """Scores every stored entity the profile scores under the shadow, a chunk of ids
        at a time."""
        scored = 0
        for ids in self._scorer.population(staged.scoring, self._chunk):
            if self._stopping.is_set():  # the caller's transaction rolls back: no shadow
                log.warning(
                    "shutting down: staging %s did not finish after %d entities (rolled back)",
                    staged.key,
                    scored,
                )
                raise UnavailableError(
                    f"server shutting down: staging {staged.key} did not finish; stage it"
                    " again once the server is back"
                )
            self.score(staged, ids, now)
            scored += len(ids)
        return scored

    def stop_backfills(self) -> None:
        """Makes a running stage backfill give up at its next step (on shutdown, once
        the grace period is over), so the writer stops within one step, not one
        population."""
        self._stopping.set()

    # -- ingest

    def score(self, staged: StagedProfile, entity_ids: Sequence[str], now: float) -> None:
        """Scores entity_ids under the shadow and stores them (no history, no changes)."""
        if not entity_ids:
            return
        rows = self._scorer.rows(staged.scoring, entity_ids, now)
        self._store.write_scores(staged.key, staged.version, rows, track_changes=False)

    def rescore(self, name: str, entity_ids: Sequence[str], now: float) -> int:
        """After profile `name` was rescored for entity_ids: its shadow too, if staged.
        Runs inside the caller's transaction; returns how many entities it scored."""
        staged = self._staged.get(name)
        if staged is None or not entity_ids:
            return 0
        self.score(staged, entity_ids, now)
        return len(entity_ids)

    # -- promote

    def promote(self, name: str, expected_version: int, now: float) -> PromoteResult:
        """Makes the shadow of `name` its active version; see the module docstring.

        Order: the intent (`started`) commits first; then one transaction moves the
        scores, drops the shadow, marks the intent `scores_done` and, last before its
        COMMIT, replaces the file, so a failure anywhere leaves the old version (the old
        file is put back when the COMMIT fails after the file was written); then the
        registry swap. The caller rescores the readers, marks the intent complete and
        publishes `tier_changes` (core/promotions.py).
        """
        staged = self.require(name, "name")
        if expected_version < 0:
            raise InvalidArgumentError.of("shadow_version", "must be >= 0 (0: any)")
        if expected_version and expected_version != staged.version:
            raise ShadowVersionMismatchError(
                f"{staged.key} is version {staged.version}, not {expected_version}:"
                " review what is staged now"
            )
        active = self._registry.get(name)
        assert active is not None  # require() checked
        if not active.source or not Path(active.source).is_file():
            raise FailedPreconditionError(
                f"{name} has no profile file to write the promoted version to"
                f" (source {active.source!r})"
            )
        source = Path(active.source)
        # As a reload will read it back: the staged text under the active file's name.
        promoted = load_profile_text(staged.toml, str(source))
        profiles = {p.name: p for p in self._registry.all()}
        issues = candidate_issues(profiles, promoted, staged.toml)
        if issues:  # reconcile() drops such shadows on reload; checked again regardless
            raise ProfileInvalidError(issues)
        try:
            previous_text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FailedPreconditionError(f"cannot read {source}: {error}") from error
        intent = StoredPromotion(
            name,
            staged.version,
            active.version,
            staged.toml,
            previous_text,
            str(source),
            PromotionState.STARTED,
        )
        self._store.begin_promotion(intent, now)
        crash_point("promote:started")
        changes, moved = self._commit(staged, source, previous_text, now)
        crash_point("promote:scores_done")
        previous = self._registry.replace(promoted)
        del self._staged[name]
        log.info(
            "promoted %s v%d -> v%d (%d entities, %d tier changes)",
            name,
            previous.version,
            promoted.version,
            moved,
            len(changes),
        )
        return PromoteResult(promoted, previous, moved, changes)

    def _commit(
        self, staged: StagedProfile, source: Path, previous_text: str, now: float
    ) -> tuple[list[TierChangeRecord], int]:
        """The promotion's one transaction (scores, shadow, intent, then the file); on
        any failure the old file is back and the intent forgotten."""
        written = False
        try:
            with self._store.transaction():
                changes, moved = self._move_scores(staged, now)
                self._store.delete_shadow(staged.name)
                self._store.advance_promotion(
                    staged.name,
                    PromotionState.SCORES_DONE,
                    now,
                    entities_scored=moved,
                    tier_changes=len(changes),
                )
                try:
                    _write_atomically(source, staged.toml)
                except OSError as error:
                    raise FailedPreconditionError(
                        f"cannot write the promoted version of {staged.name} to {source}: {error}"
                    ) from error
                written = True
                crash_point("promote:file_written")
        except BaseException:
            self._undo(staged.name, source, previous_text if written else None)
            raise
        return changes, moved

    def _undo(self, name: str, source: Path, previous_text: str | None) -> None:
        """After a failed promotion transaction: the old file back (when it was
        replaced) and the intent forgotten. Failures here are logged: a restart rolls a
        `started` intent back anyway."""
        if previous_text is not None:
            try:
                _write_atomically(source, previous_text)
            except OSError:
                log.exception("promotion of %s failed and %s could not be restored", name, source)
        try:
            self._store.forget_promotion(name)
        except Exception:
            log.exception("promotion of %s failed and its intent could not be forgotten", name)

    def _move_scores(self, staged: StagedProfile, now: float) -> tuple[list[TierChangeRecord], int]:
        """Writes the shadow's stored rows as the profile's scores, a chunk at a time, with
        history and tier changes (the caller's transaction; the caller deletes the rows).
        The rows move inside SQLite (Store.promote_chunk), never through Python."""
        changes: list[TierChangeRecord] = []
        moved = 0
        after: str | None = None
        while True:
            chunk, n, after = self._store.promote_chunk(
                staged.name, staged.version, now, Cause.PROMOTION, after=after, limit=self._chunk
            )
            if after is None:
                return changes, moved
            changes += chunk
            moved += n
            crash_point("promote:moving")

    # -- discard, restore, reconcile

    def discard(self, name: str) -> StagedProfile | None:
        """Drops the shadow of `name` and its scores; None when none was staged.
        NotFoundError for a name that is neither loaded nor staged."""
        if not name:
            raise InvalidArgumentError.of("name", "required")
        if self._registry.get(name) is None and name not in self._staged:
            raise NotFoundError("profile", name, "name")
        if name not in self._staged:
            return None
        self._store.delete_shadow(name)
        return self._staged.pop(name)

    def restore(self) -> None:
        """Re-stages the persisted candidates (on start): their scores are still stored;
        one no longer valid against the loaded profiles is dropped with a warning."""
        for stored in self._store.shadows():
            try:
                candidate = self.check(stored.toml, stored.filename)
            except ProfileInvalidError as error:
                self._drop_invalid(stored.name, error.issues)
                continue
            if candidate.name != stored.name:  # only by editing the table by hand
                self._drop_invalid(stored.name, [])
                continue
            scoring = replace(candidate, name=shadow_key(candidate.name))
            self._staged[candidate.name] = StagedProfile(
                candidate, scoring, stored.toml, stored.filename, stored.staged
            )

    def reconcile(self) -> None:
        """After a reload: drops every shadow no longer valid against the new set (its
        profile gone, another entity kind, a version no longer higher, a broken score
        signal), with a warning."""
        for staged in self.all():
            try:
                self.check(staged.toml, staged.filename)
            except ProfileInvalidError as error:
                self._drop_invalid(staged.name, error.issues)

    def _drop_invalid(self, name: str, issues: list[ProfileIssue]) -> None:
        why = "; ".join(str(i) for i in issues) or "it names another profile"
        log.warning(
            "dropping the staged shadow %s: no longer valid against the loaded profiles: %s",
            shadow_key(name),
            why,
        )
        self._store.delete_shadow(name)
        self._staged.pop(name, None)
