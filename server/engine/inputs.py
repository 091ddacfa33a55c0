"""What a profile reads from events and entities besides event names: a pure function of
the profile, so the store fetches only those properties and attributes."""

from __future__ import annotations

from dataclasses import dataclass

from prioscore.server.engine.model import DENSITY_PROPERTY, Aggregate, Profile
from prioscore.server.engine.plans import profile_plan


@dataclass(frozen=True)
class ProfileInputs:
    """What a profile reads besides event names, so the store fetches only that."""

    string_properties: tuple[str, ...]
    numeric_properties: tuple[str, ...]
    categorical_attributes: tuple[str, ...]
    numeric_attributes: tuple[str, ...]


def profile_inputs(profile: Profile) -> ProfileInputs:
    """Once per Profile object (engine.plans): every stored score reads it, and its
    set operations cost ~5 us against a dictionary look-up."""
    return profile_plan(profile, "inputs", _inputs)


def _inputs(profile: Profile) -> ProfileInputs:
    strings = {c.property for c in profile.categories}
    strings |= {key for s in profile.signals for key in s.match if key != "category"}
    strings |= {s.once_per for s in profile.signals if s.once_per}  # first-time-only keys
    numeric = (
        {DENSITY_PROPERTY}
        if any(s.aggregate == Aggregate.DENSITY for s in profile.signals)
        else set()
    )
    categorical = {f.attribute for f in profile.fit if f.points}
    categorical |= {d.attribute for d in profile.disqualify}
    categorical |= {r.attribute for r in profile.scope}  # unread, everyone would be outside
    numeric_attrs = {f.attribute for f in profile.fit if f.ranges}
    return ProfileInputs(
        tuple(sorted(strings)),
        tuple(sorted(numeric)),
        tuple(sorted(categorical)),
        tuple(sorted(numeric_attrs)),
    )


__all__ = ["ProfileInputs", "profile_inputs"]
