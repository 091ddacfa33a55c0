"""Checks across profiles: score signals name a loaded profile and never form a cycle.

A score signal (`scores = "churn_risk"`) makes its profile depend on another profile's
current scores. One file cannot be judged alone for that, so these checks run over the
whole set a reload (or a staged candidate) would make live. The same graph gives the
order ingest rescores profiles in: every profile after the profiles it reads, so a
ticket scored in the same batch as its account reads the account's fresh churn score.
"""

from __future__ import annotations

from collections.abc import Mapping

from prioscore.server.engine import Profile
from prioscore.server.errors import ProfileIssue
from prioscore.server.profiles.check import hint
from prioscore.server.profiles.toml_text import Locator


def _issue(profile: Profile, text: str | None, key: str, reason: str) -> ProfileIssue:
    line = Locator(text).line_of(key) if text is not None else 0
    return ProfileIssue(profile.source, line, key, reason)


def _path(profiles: Mapping[str, Profile], source: str, target: str) -> list[str] | None:
    """A chain of score reads from `source` to `target` (both included), or None."""
    seen = {source}
    frontier: list[list[str]] = [[source]]
    while frontier:
        path = frontier.pop(0)
        if path[-1] == target:
            return path
        for read in sorted(profiles[path[-1]].reads_profiles):
            if read in profiles and read not in seen:
                seen.add(read)
                frontier.append([*path, read])
    return None


def check_profile_set(
    profiles: Mapping[str, Profile], texts: Mapping[str, str] | None = None
) -> list[ProfileIssue]:
    """Issues of score signals across `profiles` (texts by profile name give line numbers).

    Unknown profiles are named with a did-you-mean; each cycle is reported once, on the
    signal of the alphabetically first profile in it, with the whole path
    ("ticket_triage → churn_risk → ticket_triage") so the fix is obvious.
    """
    texts = texts or {}
    issues: list[ProfileIssue] = []
    reported: set[frozenset[str]] = set()
    for name in sorted(profiles):
        profile = profiles[name]
        for i, signal in enumerate(profile.signals):
            if not signal.reads_scores:
                continue
            key = f"signals[{i}].scores"
            if signal.scores not in profiles:
                loaded = ", ".join(sorted(profiles)) or "none"
                reason = (
                    f"unknown profile {signal.scores!r}{hint(signal.scores, list(profiles))};"
                    f" loaded: {loaded}"
                )
                issues.append(_issue(profile, texts.get(name), key, reason))
                continue
            back = _path(profiles, signal.scores, name)
            if back is None:
                continue
            path = [name, *back]
            members = frozenset(path)
            if members in reported:
                continue
            reported.add(members)
            reason = "profile cycle: " + " → ".join(path) + " (score signals may not loop)"
            issues.append(_issue(profile, texts.get(name), key, reason))
    return issues


def dependency_order(profiles: Mapping[str, Profile]) -> dict[str, Profile]:
    """`profiles` re-ordered so each comes after every profile it reads.

    Stable: independent profiles keep their given order. The set must be free of cycles
    and unknown references (check_profile_set); a read of a missing profile is ignored.
    """
    ordered: dict[str, Profile] = {}
    visiting: set[str] = set()

    def place(name: str) -> None:
        if name in ordered or name not in profiles:
            return
        if name in visiting:
            raise ValueError(f"profile cycle through {name!r}; run check_profile_set first")
        visiting.add(name)
        for read in sorted(profiles[name].reads_profiles):
            place(read)
        visiting.discard(name)
        ordered[name] = profiles[name]

    for name in profiles:
        place(name)
    return ordered
