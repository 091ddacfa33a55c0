"""The set of live profiles and the atomic swap that replaces it on reload.

Readers take one reference to the current mapping, so a request never sees half of a
reload; a reload that finds any bad file keeps the old mapping whole and reports why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prioscore.server.engine import Profile
from prioscore.server.errors import ProfileInvalidError, ProfileIssue
from prioscore.server.profiles.graph import dependency_order
from prioscore.server.profiles.loading import load_directory, load_profile_text


@dataclass(frozen=True)
class ReloadResult:
    loaded: tuple[str, ...]
    issues: tuple[ProfileIssue, ...]

    @property
    def ok(self) -> bool:
        return not self.issues


class ProfileRegistry:
    """Live profiles by name, loaded from one directory and swapped atomically."""

    def __init__(self, directory: Path, profiles: dict[str, Profile] | None = None) -> None:
        self.directory = Path(directory)
        self._profiles: dict[str, Profile] = dict(profiles or {})
        self._lock = threading.Lock()
        self._reload_listeners: list[Callable[[], None]] = []

    @classmethod
    def from_directory(cls, directory: Path) -> ProfileRegistry:
        """Loads every profile or raises ProfileInvalidError: a server never starts half-set."""
        return cls(directory, load_directory(directory))

    def get(self, name: str) -> Profile | None:
        return self._profiles.get(name)

    def all(self) -> list[Profile]:
        return list(self._profiles.values())

    def reload(self) -> ReloadResult:
        """Re-reads the directory; on any issue nothing changes and the issues are returned."""
        with self._lock:
            try:
                fresh = load_directory(self.directory)
            except ProfileInvalidError as error:
                return ReloadResult((), tuple(error.issues))
            self._profiles = fresh
        for listener in list(self._reload_listeners):
            listener()
        return ReloadResult(tuple(sorted(fresh)), ())

    def on_reload(self, listener: Callable[[], None]) -> None:
        """Calls `listener()` after every reload that replaced the set (e.g. so staged
        shadows are checked against the new set)."""
        self._reload_listeners.append(listener)

    def replace(self, profile: Profile) -> Profile:
        """Swaps in `profile` for the loaded profile of its name, in one reference swap;
        returns the one it replaced. The set stays in dependency order (each profile after
        the profiles it reads); the caller has checked the new set (check_profile_set)."""
        with self._lock:
            previous = self._profiles.get(profile.name)
            if previous is None:
                raise KeyError(profile.name)
            fresh = dict(self._profiles)
            fresh[profile.name] = profile
            self._profiles = dependency_order(fresh)
            return previous

    @staticmethod
    def validate(text: str, filename: str) -> tuple[Profile | None, tuple[ProfileIssue, ...]]:
        try:
            return load_profile_text(text, filename), ()
        except ProfileInvalidError as error:
            return None, tuple(error.issues)
