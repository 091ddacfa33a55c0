"""A staged candidate: what it is (the profile as written and as scored under
"<name>@shadow"), what staging and promotion answer, and the cross-profile check that a
candidate must pass against the live set with it in place of its active version."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from prioscore.server.engine import Profile
from prioscore.server.errors import ProfileIssue
from prioscore.server.profiles import Locator, check_profile_set, hint
from prioscore.server.store import SHADOW_SUFFIX, TierChangeRecord


def shadow_key(name: str) -> str:
    """The profile key a shadow's scores are stored and ranked under: "<name>@shadow"."""
    return name + SHADOW_SUFFIX


@dataclass(frozen=True, eq=False)
class StagedProfile:
    """One staged candidate."""

    candidate: Profile  # as written: the profile's name; source = the filename staged as
    scoring: Profile  # the same, named "<name>@shadow": the key of its stored scores
    toml: str  # the text as staged (comments and all): what promotion writes
    filename: str
    staged: float  # epoch seconds

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def version(self) -> int:
        return self.candidate.version

    @property
    def key(self) -> str:
        return self.scoring.name


@dataclass(frozen=True, eq=False)
class StageResult:
    staged: StagedProfile
    entities_scored: int


@dataclass(frozen=True, eq=False)
class PromoteResult:
    profile: Profile  # active now
    previous: Profile  # active before
    entities_scored: int  # rows moved from the shadow to the profile
    tier_changes: list[TierChangeRecord]  # new ones, to publish
    # A replayed (retried) promotion's changes, recorded and published the first time.
    earlier_changes: int = 0


def candidate_issues(
    profiles: Mapping[str, Profile], candidate: Profile, text: str
) -> list[ProfileIssue]:
    """Why `candidate` cannot be the shadow of a loaded profile: name, entity, version,
    then the cross-profile checks over `profiles` with the candidate in place of its
    active version (unknown profiles, cycles). Issues carry file, line and key."""
    where = Locator(text)

    def issue(key: str, reason: str) -> ProfileIssue:
        return ProfileIssue(candidate.source, where.line_of(key), key, reason)

    active = profiles.get(candidate.name)
    if active is None:
        loaded = ", ".join(sorted(profiles)) or "none"
        reason = (
            f"no loaded profile named {candidate.name!r}{hint(candidate.name, list(profiles))};"
            f" a shadow is a new version of a loaded profile (loaded: {loaded})"
        )
        return [issue("profile.name", reason)]
    issues = []
    if candidate.entity != active.entity:
        reason = (
            f"the candidate scores {candidate.entity!r}, but {active.name} scores"
            f" {active.entity!r}; a shadow must score the same entity kind"
        )
        issues.append(issue("profile.entity", reason))
    if candidate.version <= active.version:
        reason = (
            f"version {candidate.version} must be higher than the active version"
            f" {active.version} of {active.name}"
        )
        issues.append(issue("profile.version", reason))
    if issues:
        return issues
    live = {**profiles, candidate.name: candidate}
    texts = {candidate.name: text}
    for name, profile in profiles.items():  # line numbers for issues found in other files
        if name != candidate.name and profile.reads_profiles and profile.source:
            with suppress(OSError, UnicodeDecodeError):
                texts[name] = Path(profile.source).read_text(encoding="utf-8")
    return check_profile_set(live, texts)


__all__ = [
    "PromoteResult",
    "StageResult",
    "StagedProfile",
    "candidate_issues",
    "shadow_key",
]
