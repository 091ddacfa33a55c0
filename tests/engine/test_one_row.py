"""engine.one_row against the block pass: the same bytes for every one-row score.

score() takes the plain-float path for one row (explained or not); with
`score_one_row` patched away it runs the block pass on the same row. Every bundled
profile, and variants that reach what the bundled ones do not (multiply, scope rules,
many tier cuts, negative weights), are scored on random rows and random attributes:
missing ones, codes -1, values the rules name, numbers on range edges, NaN and -0.0;
with and without explanations, for any number of top reasons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from prioscore.server.engine import profile_inputs, scoring
from prioscore.server.engine.model import (
    CategoricalColumn,
    Combine,
    DisqualifyRule,
    FeatureSet,
    Profile,
    ScopeRule,
    ScoreResult,
    TierMode,
    Tiers,
)
from prioscore.server.engine.scoring import score
from prioscore.server.profiles import ProfileRegistry, bundled

ROWS_PER_PROFILE = 400


def bundled_profiles() -> list[Profile]:
    return sorted(ProfileRegistry.from_directory(bundled.DIRECTORY).all(), key=lambda p: p.name)


def variants(profile: Profile) -> Iterator[Profile]:
    """The profile, and forms of it that take the paths the bundled ones may not."""
    yield profile
    yield dataclasses.replace(profile, combine=Combine.MULTIPLY)
    uncapped = tuple(dataclasses.replace(s, cap=None) for s in profile.signals)
    yield dataclasses.replace(profile, signals=uncapped)  # no clip: the row as it came
    if profile.tiers.mode is TierMode.ABSOLUTE:
        names = tuple(f"t{i}" for i in range(11))
        cuts = (0.0, *np.linspace(5.0, 95.0, 10).tolist())
        yield dataclasses.replace(
            profile, tiers=dataclasses.replace(profile.tiers, names=names, thresholds=cuts)
        )
    attributes = [rule.attribute for rule in profile.fit] or ["plan"]
    yield dataclasses.replace(
        profile,
        signals=tuple(dataclasses.replace(s, weight=-s.weight) for s in profile.signals[::2])
        + profile.signals[1::2],
        scope=(ScopeRule(attributes[0], ("pro", "1", "team")),),
        disqualify=(
            *profile.disqualify,
            DisqualifyRule(attributes[-1], ("student", "0", "-1.5"), ""),
            DisqualifyRule(attributes[-1], ("spam",), "looks like spam"),
        ),
    )


def attribute_values(profile: Profile) -> dict[str, list[str]]:
    """Texts each attribute's rules name, and a few they do not."""
    named: dict[str, list[str]] = {}
    for rule in profile.fit:
        named.setdefault(rule.attribute, []).extend(rule.points)
    for rule in (*profile.scope, *profile.disqualify):
        named.setdefault(rule.attribute, []).extend(rule.values)
    for values in named.values():
        values += ["", "unlisted", "0", "1"]
    return named


def edge_numbers(profile: Profile, name: str) -> list[float]:
    numbers = [0.0, -0.0, 1.0, -1.5, 3.25, 1e9, float("nan")]
    for rule in profile.fit:
        if rule.attribute == name:
            for r in rule.ranges:
                numbers += [e for e in (r.low, r.high) if e is not None]
    return numbers


def random_attributes(
    profile: Profile, rng: np.random.Generator
) -> dict[str, np.ndarray | CategoricalColumn]:
    needs = profile_inputs(profile)
    texts = attribute_values(profile)
    out: dict[str, np.ndarray | CategoricalColumn] = {}
    names = {*needs.categorical_attributes, *needs.numeric_attributes, *texts}
    for name in sorted(names):
        if rng.random() < 0.2:
            continue  # the request lacks the attribute
        if name in needs.numeric_attributes or (name not in texts and rng.random() < 0.5):
            numbers = edge_numbers(profile, name)
            out[name] = np.array([numbers[rng.integers(len(numbers))]], dtype=np.float64)
        else:
            vocabulary = tuple(dict.fromkeys(texts.get(name, ["x"])))
            code = int(rng.integers(-1, len(vocabulary)))
            out[name] = CategoricalColumn(np.array([code], dtype=np.int32), vocabulary)
    return out


def random_row(profile: Profile, rng: np.random.Generator) -> np.ndarray:
    row = rng.choice([0.0, -0.0, 1.0, 2.5, 40.0], size=len(profile.signals))
    row *= rng.uniform(-3.0, 30.0, size=row.shape) if rng.random() < 0.7 else 1.0
    if rng.random() < 0.05:
        row[rng.integers(len(row))] = np.nan
    if rng.random() < 0.3:  # a row of a Fortran-order matrix: strided, not contiguous
        matrix = np.asfortranarray(np.vstack([row, row[::-1], row]))
        return matrix[1:2, ::-1]
    return row.reshape(1, -1)


def as_bytes(result: ScoreResult) -> tuple[object, ...]:
    explained = [
        None if a is None else (a.shape, a.dtype.str, a.tobytes())
        for a in (result.contributions, result.reasons)
    ]
    return (
        result.score.tobytes(),
        result.engagement.tobytes(),
        result.fit.tobytes(),
        result.tier.tobytes(),
        result.disqualified.tobytes(),
        result.disqualify_reason.tolist(),
        result.columns,
        *explained,
    )


@pytest.mark.parametrize("profile", bundled_profiles(), ids=lambda p: p.name)
def test_one_row_scores_are_the_block_pass_bytes(
    profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(sum(map(ord, profile.name)))
    cases = []
    for variant in variants(profile):
        for _ in range(ROWS_PER_PROFILE):
            row = random_row(variant, rng)
            eliminated = int(rng.choice([-1, -1, -1, 0, 1, len(variant.categories) + 2]))
            attrs = random_attributes(variant, rng)
            explain = {
                "explain": bool(rng.random() < 0.5),
                "top_reasons": int(rng.integers(-1, 40)),
            }
            cases.append((variant, row, eliminated, attrs, explain))

    def scored() -> list[tuple[object, ...]]:
        return [
            as_bytes(score(v, FeatureSet(row, np.array([e], np.int32)), attrs, **explain))
            for v, row, e, attrs, explain in cases
        ]

    fast = scored()
    monkeypatch.setattr(scoring, "score_one_row", lambda *args, **kwargs: None)
    block = scored()
    assert fast == block
    assert any(b[-1] is not None and b[-1][0][1] > 1 for b in block)  # reasons were ranked
    tiers = {b[3] for b in block}
    assert len(tiers) > 1 or profile.tiers.mode is not TierMode.ABSOLUTE  # not one answer


def test_the_one_row_path_is_taken_and_leaves_what_it_does_not_decide() -> None:
    profile = next(p for p in bundled_profiles() if p.tiers.mode is TierMode.ABSOLUTE)
    row = np.ones((1, len(profile.signals)))
    plan = scoring.score_plan_of(profile)
    taken = scoring.score_one_row(profile, plan, row, -1, {})
    assert taken is not None and taken.tier.dtype == np.int32
    quantile = dataclasses.replace(
        profile,
        tiers=Tiers(TierMode.QUANTILE, profile.tiers.names, profile.tiers.thresholds),
    )
    assert scoring.score_one_row(quantile, scoring.score_plan_of(quantile), row, -1, {}) is None
    words = {rule.attribute: np.array(["x"], dtype=object) for rule in profile.fit}
    if words:  # an object column of strings: the block pass compares them itself
        assert scoring.score_one_row(profile, plan, row, -1, words) is None
