"""Every profile a request may name: the loaded ones and their staged shadows.

Service and ProfileHandlers both resolve names here, so "<name>@shadow" means the same
thing to every call and neither handler needs the other to look a profile up.
"""

from __future__ import annotations

from prioscore.server.core import ShadowSet, StagedProfile
from prioscore.server.engine import Profile
from prioscore.server.errors import InvalidArgumentError, NotFoundError
from prioscore.server.profiles import ProfileRegistry


class ProfileCatalog:
    """Name -> profile over the registry (active versions) and the shadow set."""

    def __init__(self, registry: ProfileRegistry, shadows: ShadowSet) -> None:
        self._registry = registry
        self._shadows = shadows

    def get(self, name: str, field: str = "profile") -> Profile:
        """The active profile `name`, or a staged shadow's scoring profile for
        "<name>@shadow"; INVALID_ARGUMENT when empty, NOT_FOUND naming `field` else."""
        if not name:
            raise InvalidArgumentError.of(field, "required")
        profile = self._registry.get(name) or self._shadows.resolve(name)
        if profile is None:
            known = sorted(p.name for p in self._registry.all())
            raise NotFoundError("profile", name, field, known=known)
        return profile

    def active(self, name: str) -> Profile | None:
        """The loaded version of `name` only (never a shadow)."""
        return self._registry.get(name)

    def all(self) -> list[Profile]:
        """Every loaded profile, in dependency order (readers after what they read)."""
        return self._registry.all()

    def shadow(self, name: str) -> StagedProfile | None:
        return self._shadows.get(name)

    def require_shadow(self, name: str, field: str) -> StagedProfile:
        return self._shadows.require(name, field)


__all__ = ["ProfileCatalog"]
