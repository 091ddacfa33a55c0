"""profile_to_toml is the loader's inverse for any valid Profile, not just the bundled ones.

Calibration writes candidate profiles with arbitrary weights, caps and descriptions, so the
writer must survive odd strings (quotes, newlines, unicode) and odd floats.
"""

from __future__ import annotations

import dataclasses
import itertools
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from prioscore.server.engine import (
    NEEDS_HALF_LIFE,
    NEEDS_WINDOW,
    RELATED_AGGREGATES,
    SCORE_ONLY_AGGREGATES,
    Aggregate,
    CategoryRule,
    DisqualifyRule,
    FitRule,
    NumericRange,
    Profile,
    Relation,
    Signal,
    TierMode,
    Tiers,
)
from prioscore.server.profiles.loading import load_profile_text, profile_digest, profile_to_toml
from tests.conftest import PROFILES

names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
texts = st.text(max_size=40)
values = st.text(min_size=1, max_size=12)
numbers = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) | st.integers(-500, 500).map(
    float
)
positive = st.floats(min_value=1e-3, max_value=1e6) | st.integers(1, 500).map(float)


@st.composite
def score_signals(draw: st.DrawFn, name: str) -> Signal:
    of = draw(st.sampled_from(list(Relation)))
    aggregate = draw(st.sampled_from(sorted(RELATED_AGGREGATES[of])))
    return Signal(
        name=name,
        event="",
        aggregate=aggregate,
        weight=draw(numbers),
        cap=draw(st.none() | positive),
        missing=draw(numbers),
        description=draw(texts),
        scores=draw(names),
        of=of,
        min_score=draw(st.floats(0.0, 100.0)),
        by=draw(names) if aggregate == Aggregate.DISTINCT else "",
    )


@st.composite
def signals(draw: st.DrawFn, name: str, categories: list[str]) -> Signal:
    if draw(st.integers(0, 4)) == 0:
        return draw(score_signals(name))
    aggregate = draw(st.sampled_from([a for a in Aggregate if a not in SCORE_ONLY_AGGREGATES]))
    properties = names.filter(lambda n: n != "category")
    match_values = st.lists(values, min_size=1, max_size=3).map(tuple)
    match = draw(st.dictionaries(properties, match_values, max_size=2))
    if categories and draw(st.booleans()):
        match["category"] = tuple(draw(st.lists(st.sampled_from(categories), min_size=1)))
    return Signal(
        name=name,
        event=draw(names),
        aggregate=aggregate,
        weight=draw(numbers),
        cap=draw(st.none() | positive),
        match=match,
        half_life_days=draw(positive) if aggregate in NEEDS_HALF_LIFE else None,
        window_days=draw(positive) if aggregate in NEEDS_WINDOW else None,
        missing=draw(numbers),
        description=draw(texts),
    )


@st.composite
def fit_rules(draw: st.DrawFn, attribute: str) -> FitRule:
    points = draw(st.dictionaries(st.text(max_size=10), numbers, max_size=4))
    bounds = sorted(draw(st.sets(st.integers(-1000, 1000), max_size=5)))
    pairs = itertools.pairwise(bounds)
    ranges = [NumericRange(float(lo), float(hi), draw(numbers)) for lo, hi in pairs]
    if bounds and draw(st.booleans()):
        ranges.insert(0, NumericRange(None, float(bounds[0]), draw(numbers)))
    if bounds and draw(st.booleans()):
        ranges.append(NumericRange(float(bounds[-1]), None, draw(numbers)))
    if not points and not ranges:
        ranges = [NumericRange(None, None, draw(numbers))]
    return FitRule(attribute, points, tuple(ranges))


@st.composite
def tiers(draw: st.DrawFn) -> Tiers:
    # Grid tiers have another shape (grades x levels): tests/profiles/test_grid_tiers.py.
    mode = draw(st.sampled_from([TierMode.ABSOLUTE, TierMode.QUANTILE]))
    top = 100.0 if mode is TierMode.ABSOLUTE else 1.0
    cuts = sorted(draw(st.sets(st.floats(min_value=1e-3, max_value=top), max_size=4)))
    tier_name = st.text(string.ascii_letters + " _-", min_size=1, max_size=8).filter(
        lambda n: n.strip() and n not in ("mode", "names", "thresholds")
    )
    count = len(cuts) + 1
    tier_names = draw(st.lists(tier_name, min_size=count, max_size=count, unique=True))
    return Tiers(mode, tuple(tier_names), (0.0, *cuts))


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    category_names = draw(st.lists(names, max_size=3, unique=True))
    categories = tuple(
        CategoryRule(
            name=c,
            property=draw(st.sampled_from(["url", "path", "form"])),
            equals=tuple(draw(st.lists(values, max_size=2))),
            prefixes=tuple(draw(st.lists(values, min_size=1, max_size=2))),
            eliminatory=draw(st.booleans()),
        )
        for c in category_names
    )
    signal_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    sigs = tuple(draw(signals(n, category_names)) for n in signal_names)
    fit = tuple(draw(fit_rules(a)) for a in draw(st.lists(names, max_size=3, unique=True)))
    # max_points is either the derived default (then the writer omits it) or explicit.
    uncapped = any(s.weight > 0 and s.cap is None for s in sigs)
    derived = 0.0 if uncapped else float(sum(s.cap or 0.0 for s in sigs if s.weight > 0))
    max_points = derived if derived and draw(st.booleans()) else draw(positive)
    return Profile(
        name=draw(names),
        version=draw(st.integers(1, 10_000)),
        entity=draw(st.sampled_from(["contact", "account", "subscription", "ticket"])),
        signals=sigs,
        tiers=draw(tiers()),
        max_points=max_points,
        description=draw(texts),
        categories=categories,
        fit=fit,
        disqualify=tuple(
            DisqualifyRule(a, tuple(draw(st.lists(values, min_size=1, max_size=3))), draw(texts))
            for a in draw(st.lists(names, max_size=2))
        ),
        fit_weight=draw(st.floats(0.0, 1.0)) if fit else 0.0,
        source="generated",
        members=draw(st.sampled_from(["", "member", "user"])),
    )


@settings(max_examples=150, deadline=None)
@given(profiles())
def test_any_valid_profile_round_trips(profile: Profile) -> None:
    text = profile_to_toml(profile)
    again = load_profile_text(text, "written.toml")
    assert dataclasses.replace(again, source=profile.source) == profile
    assert profile_digest(again) == profile_digest(profile)


def test_keys_ending_in_a_newline_are_quoted() -> None:
    """A fit value such as "0\\n" must be written as a quoted key: a bare-key check
    anchored with "$" let it through and the written file did not parse (hypothesis
    found it)."""
    bundled = load_profile_text(
        (PROFILES / "lead_qualification.toml").read_text(), "lead_qualification.toml"
    )
    profile = dataclasses.replace(bundled, fit=(FitRule(attribute="a", points={"0\n": 1.0}),))
    text = profile_to_toml(profile)
    assert '"0\\n" = 1' in text
    assert load_profile_text(text, "written.toml").fit == profile.fit
