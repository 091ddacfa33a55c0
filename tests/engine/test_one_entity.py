"""The one-entity path (engine.one_entity) gives exactly the bytes of the numpy paths:
for every bundled profile and a profile with every aggregate and group kind, over random
events (ties on time and day, future events, NaN values and clicks, absent properties),
features to the bit, and the scores, tiers, disqualifications and reasons they make."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine import (
    CategoricalColumn,
    EventColumns,
    FeatureSet,
    Profile,
    compute_features,
    one_entity,
    profile_inputs,
    score,
    small_batch,
)
from prioscore.server.profiles import ProfileRegistry, bundled

from .factory import AS_OF, DAY, Ev, events
from .test_features import _every_kind_profile

BUNDLED = sorted(ProfileRegistry.from_directory(bundled.DIRECTORY).all(), key=lambda p: p.name)


def _words(profile: Profile, prop: str) -> list[str]:
    """Values a property may take: every match value and rule text of the profile, a
    longer path under each, and a word nothing matches."""
    words = {"/nothing", "other"}
    for signal in profile.signals:
        words.update(signal.match.get(prop, ()))
    for rule in profile.categories:
        if rule.property == prop:
            words.update(rule.equals)
            words.update(f"{p}/x" for p in rule.prefixes)
            words.update(f"/a{c}b" for c in rule.contains)
    return sorted(words)


def random_events(profile: Profile, rng: np.random.Generator, m: int) -> EventColumns:
    """m events of one entity for `profile`: its event types and one more, ages in whole
    and fractional days (ties), a few in the future; properties absent at times."""
    needs = profile_inputs(profile)
    types = (*sorted(profile.event_types), "unread")
    ages = rng.choice([0.0, 0.25, 1.0, 3.0, 7.0, 13.9, 14.0, 30.0, -1.0], size=m)
    ages = np.where(rng.random(m) < 0.5, ages, rng.uniform(-2.0, 120.0, size=m))
    strings = {}
    for prop in needs.string_properties:
        vocabulary = tuple(_words(profile, prop))
        codes = rng.integers(-1, len(vocabulary), size=m).astype(np.int32)
        strings[prop] = CategoricalColumn(codes, vocabulary)
    numbers = {
        prop: np.where(rng.random(m) < 0.3, np.nan, rng.integers(0, 9, size=m).astype(float))
        for prop in ("clicks", *needs.numeric_properties)
    }
    return EventColumns(
        entity=np.zeros(m, dtype=np.int64),
        event_type=rng.integers(0, len(types), size=m).astype(np.int32),
        ts=AS_OF - ages * DAY,
        value=rng.choice([1.0, 0.0, 2.5, -3.0, 0.01, np.nan, 300.0], size=m),
        event_types=types,
        strings=strings,
        numbers=numbers,
    )


def paths(monkeypatch: pytest.MonkeyPatch, profile: Profile, ev: EventColumns, as_of: object):
    """(one-entity, fused, per-group) features of the same events."""
    one = compute_features(profile, ev, 1, as_of)  # type: ignore[arg-type]
    with monkeypatch.context() as patched:
        patched.setattr(one_entity, "ONE_ENTITY_MAX_EVENTS", -1)
        fused = compute_features(profile, ev, 1, as_of)  # type: ignore[arg-type]
        patched.setattr(small_batch, "FUSED_MAX_EVENTS", -1)
        grouped = compute_features(profile, ev, 1, as_of)  # type: ignore[arg-type]
    return one, fused, grouped


def assert_same_features(got: FeatureSet, want: FeatureSet) -> None:
    assert got.matrix.tobytes() == want.matrix.tobytes()
    assert got.matrix.flags.f_contiguous
    np.testing.assert_array_equal(got.eliminated_by, want.eliminated_by)


@pytest.mark.parametrize("profile", BUNDLED, ids=lambda p: p.name)
@pytest.mark.parametrize("m", [0, 1, 2, 7, 30, 128])
def test_bundled_profiles_one_entity_equals_the_numpy_paths(monkeypatch, profile, m):
    rng = np.random.default_rng(m * 31 + len(profile.name))
    for trial in range(6):
        ev = random_events(profile, rng, m)
        as_of = AS_OF if trial % 2 else np.array([AS_OF - 0.5 * DAY])  # scalar or per entity
        one, fused, grouped = paths(monkeypatch, profile, ev, as_of)
        assert_same_features(one, grouped)
        assert_same_features(fused, grouped)
        # The same features make the same scores, tiers and reasons (attributes absent:
        # fit and disqualify rules read none; score() is covered by its own tests).
        a = score(profile, one, {}, explain=True, top_reasons=3)
        b = score(profile, grouped, {}, explain=True, top_reasons=3)
        for field in ("score", "engagement", "fit", "tier", "disqualified", "reasons"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
        assert a.disqualify_reason.tolist() == b.disqualify_reason.tolist()


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("nan", [True, False])  # a NaN value makes its sums NaN
def test_every_aggregate_and_group_kind_one_entity_equals_the_numpy_paths(monkeypatch, seed, nan):
    rng = np.random.default_rng(seed)
    values = [1.0, 2.5, -3.0, 0.0, np.nan] if nan else [1.0, 2.5, -3.0, 0.0]
    rows = [
        Ev(
            0,
            str(rng.choice(["page_view", "email_open"])),
            float(rng.choice([0.0, 0.5, 3.0, 4.0, 10.0, 20.0, -1.0, rng.uniform(-2, 40)])),
            # arbitrary floats too: a sum in another order would differ in its last bits
            value=float(rng.choice([*values, rng.uniform(0, 3)])),
            url=rng.choice(["/pricing", "/blog/a", "/careers", None]),
            clicks=float(rng.choice([np.nan, 0.0, 2.0])),
            plan=rng.choice(["pro", "free", None]),
        )
        for _ in range(int(rng.integers(1, 129)))
    ]
    for categories in ((), None):
        prof = _every_kind_profile() if categories is None else _every_kind_profile(categories)
        one, fused, grouped = paths(monkeypatch, prof, events(rows), AS_OF)
        assert_same_features(one, grouped)
        assert_same_features(fused, grouped)


def test_the_path_is_taken_only_where_it_applies(monkeypatch):
    """One entity and at most ONE_ENTITY_MAX_EVENTS events: the one-entity path; two
    entities, more events, or an event name with two codes: the numpy paths."""
    taken: list[bool] = []
    real = one_entity.one_entity_columns

    def spy(*args: object) -> bool:
        taken.append(real(*args))  # type: ignore[arg-type]
        return taken[-1]

    monkeypatch.setattr("prioscore.server.engine.features.one_entity_columns", spy)
    prof = BUNDLED[0]
    rng = np.random.default_rng(1)
    compute_features(prof, random_events(prof, rng, 5), 1, AS_OF)
    compute_features(prof, random_events(prof, rng, 129), 1, AS_OF)
    doubled = random_events(prof, rng, 5)
    doubled.event_types = (*doubled.event_types[:-1], doubled.event_types[0])
    compute_features(prof, doubled, 1, AS_OF)
    assert taken == [True, False, False]
    taken.clear()
    compute_features(prof, random_events(prof, rng, 5), 2, AS_OF)
    assert taken == []  # two entities never ask
