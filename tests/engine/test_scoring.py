"""Scoring by hand: caps (incl. negative weights), fit, disqualifiers, tiers, explain."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine.model import (
    CategoricalColumn,
    CategoryRule,
    DisqualifyRule,
    FeatureSet,
    FitRule,
    NumericRange,
    TierMode,
    Tiers,
)
from prioscore.server.engine.scoring import assign_tiers, score

from .factory import profile, signal

SIGNALS = [
    signal("count", name="a", weight=10, cap=25),
    signal("count", name="b", weight=-5, cap=12),
    signal("count", name="c", weight=2),  # uncapped
]
F = np.array(
    [
        [1, 1, 1],  # 10 - 5 + 2 = 7 -> 14
        [5, 5, 0],  # min(50, 25) + max(-25, -12) = 13 -> 26
        [0, 0, 100],  # 200 uncapped, engagement clips at max_points -> 100
        [0, 10, 0],  # max(-50, -12) = -12, floored at 0 -> 0
    ],
    dtype=np.float64,
)
FIT = (
    FitRule("seniority", points={"c_level": 20, "vp": 15, "manager": 8, "intern": -5}),
    FitRule(
        "employees",
        ranges=(
            NumericRange(None, 10, 2),
            NumericRange(10, 100, 5),
            NumericRange(100, None, 10),
        ),
    ),
)
FIT_MAX = 20 + 10
ATTRS = {
    "seniority": np.array(["vp", "intern", None, "c_level"], dtype=object),
    "employees": np.array([5, 150, np.nan, 50], dtype=np.float64),
    "relationship": np.array(["customer", "competitor", "internal", ""], dtype=object),
}
DISQUALIFY = (
    DisqualifyRule("relationship", ("competitor",)),
    DisqualifyRule("relationship", ("internal", "partner"), reason="not a prospect"),
)


def fs(matrix=F, eliminated=None):
    n = matrix.shape[0]
    elim = np.full(n, -1, np.int32) if eliminated is None else np.asarray(eliminated, np.int32)
    return FeatureSet(matrix=matrix, eliminated_by=elim)


def test_engagement_caps_negative_weights_and_normalisation():
    r = score(profile(SIGNALS, max_points=50), fs(), {})
    np.testing.assert_allclose(r.engagement, [14, 26, 100, 0])
    np.testing.assert_allclose(r.score, r.engagement)  # no fit rules: engagement alone
    np.testing.assert_array_equal(r.fit, 0)
    np.testing.assert_array_equal(r.tier, [0, 0, 2, 0])
    assert r.columns == ("a", "b", "c") and r.contributions is None and r.reasons is None


def test_fit_categorical_and_numeric_ranges():
    prof = profile(SIGNALS, max_points=50, fit=FIT, fit_weight=0.4)
    r = score(prof, fs(), ATTRS)
    fit_points = np.array([15 + 2, -5 + 10, 0 + 0, 20 + 5])
    np.testing.assert_allclose(r.fit, 100 * fit_points / FIT_MAX)
    np.testing.assert_allclose(r.score, 0.6 * np.array([14, 26, 100, 0]) + 0.4 * r.fit)
    assert r.columns == ("a", "b", "c", "fit:seniority", "fit:employees")


def test_fit_accepts_dictionary_encoded_and_fixed_width_strings():
    prof = profile(SIGNALS, max_points=50, fit=FIT, fit_weight=0.4)
    expected = score(prof, fs(), ATTRS).fit
    codes = CategoricalColumn(np.array([2, 1, -1, 0], np.int32), ("c_level", "intern", "vp"))
    for seniority in (codes, np.array(["vp", "intern", "", "c_level"])):
        r = score(prof, fs(), {**ATTRS, "seniority": seniority})
        np.testing.assert_allclose(r.fit, expected)


def test_missing_code_reads_as_empty_string_like_str_arrays():
    """Code -1 (missing) takes the award / disqualification of a "" key, as "" does in a
    str column, so stored (codes) and inline (str) attributes score alike."""
    fit = (FitRule("seniority", points={"vp": 15, "": 3}),)
    dq = (DisqualifyRule("relationship", ("competitor", "")),)
    prof = profile(SIGNALS, max_points=50, fit=fit, fit_weight=0.4, disqualify=dq)
    strs = {
        "seniority": np.array(["vp", "", "intern", ""]),
        "relationship": np.array(["competitor", "customer", "", ""]),
    }
    codes = {
        "seniority": CategoricalColumn(np.array([0, -1, 1, -1], np.int32), ("vp", "intern")),
        "relationship": CategoricalColumn(
            np.array([1, 0, -1, -1], np.int32), ("customer", "competitor")
        ),
    }
    expected, got = score(prof, fs(), strs), score(prof, fs(), codes)
    np.testing.assert_allclose(got.fit, 100 * np.array([15, 3, 0, 3]) / 15)
    np.testing.assert_array_equal(got.fit, expected.fit)
    np.testing.assert_array_equal(got.disqualified, [True, False, True, True])
    assert got.disqualify_reason.tolist() == expected.disqualify_reason.tolist()
    np.testing.assert_array_equal(got.tier, expected.tier)


def test_fit_is_clipped_to_zero_and_zero_without_positive_awards():
    negative = FitRule("seniority", points={"intern": -5})
    prof = profile(SIGNALS, max_points=50, fit=(negative,), fit_weight=0.5)
    r = score(prof, fs(), ATTRS)
    np.testing.assert_array_equal(r.fit, 0)  # fit_max == 0
    np.testing.assert_allclose(r.score, 0.5 * r.engagement)
    missing_attr = score(profile(SIGNALS, max_points=50, fit=FIT, fit_weight=0.5), fs(), {})
    np.testing.assert_array_equal(missing_attr.fit, 0)


def test_disqualifiers_with_reasons_keep_score_but_lose_tier():
    prof = profile(SIGNALS, max_points=50, disqualify=DISQUALIFY)
    r = score(prof, fs(), ATTRS)
    np.testing.assert_array_equal(r.disqualified, [False, True, True, False])
    assert r.disqualify_reason.tolist() == ["", "relationship is competitor", "not a prospect", ""]
    np.testing.assert_allclose(r.score, [14, 26, 100, 0])
    np.testing.assert_array_equal(r.tier, [0, -1, -1, 0])


def test_eliminatory_event_disqualifies_with_category_name():
    cats = (CategoryRule("pricing", prefixes=("/p",)), CategoryRule("careers", eliminatory=True))
    prof = profile(SIGNALS, max_points=50, categories=cats, disqualify=DISQUALIFY)
    r = score(prof, fs(eliminated=[1, 1, -1, -1]), ATTRS)
    np.testing.assert_array_equal(r.disqualified, [True, True, True, False])
    # An attribute rule, when it also matches, names the reason first.
    assert r.disqualify_reason.tolist() == [
        "eliminatory event: careers",
        "relationship is competitor",
        "not a prospect",
        "",
    ]


def test_numeric_attribute_disqualifier():
    prof = profile(SIGNALS, max_points=50, disqualify=(DisqualifyRule("employees", ("150",)),))
    r = score(prof, fs(), ATTRS)
    np.testing.assert_array_equal(r.disqualified, [False, True, False, False])
    assert r.disqualify_reason[1] == "employees is 150"


def test_explain_contributions_and_reasons():
    prof = profile(SIGNALS, max_points=50, fit=FIT, fit_weight=0.4)
    r = score(prof, fs(), ATTRS, explain=True)
    np.testing.assert_allclose(
        r.contributions,
        [
            [10, -5, 2, 15, 2],
            [25, -12, 0, -5, 10],
            [0, 0, 200, 0, 0],
            [0, -12, 0, 20, 5],
        ],
    )
    assert r.reasons.dtype == np.int32
    np.testing.assert_array_equal(r.reasons, [[3, 0, 1], [0, 1, 4], [2, 0, 1], [3, 1, 4]])
    one = score(prof, fs(), ATTRS, explain=True, top_reasons=1)
    np.testing.assert_array_equal(one.reasons, [[3], [0], [2], [3]])
    many = score(prof, fs(), ATTRS, explain=True, top_reasons=9)
    assert many.reasons.shape == (4, 5)  # never more reasons than columns


def test_explain_ties_prefer_the_earlier_column():
    sigs = [signal("count", name=n, weight=w) for n, w in (("x", 1), ("y", -1), ("z", 1))]
    r = score(profile(sigs), fs(np.array([[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]])), {}, explain=True)
    np.testing.assert_array_equal(r.reasons, [[0, 1, 2], [0, 1, 2]])


def reference(prof, matrix):
    """Naive points matrix straight from the Profile docstring."""
    w = np.array([s.weight for s in prof.signals])
    cap = np.array([np.inf if s.cap is None else s.cap for s in prof.signals])
    return np.clip(matrix * w, -cap, cap)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("n", [7, 300_000])  # the larger one runs blocks on threads
def test_blocked_paths_match_the_naive_formula(order, n):
    rng = np.random.default_rng(n)
    sigs = [
        signal("count", name=f"s{j}", weight=float(w), cap=None if j % 3 == 0 else 5.0 + j)
        for j, w in enumerate(rng.normal(0, 3, 12))
    ]
    prof = profile(sigs, max_points=60)
    matrix = np.array(rng.exponential(2, (n, 12)), order=order)
    points = reference(prof, matrix)
    r = score(prof, fs(matrix), {}, explain=True)
    np.testing.assert_allclose(r.contributions, points, atol=1e-9)
    np.testing.assert_allclose(r.engagement, 100 * np.clip(points.sum(1), 0, 60) / 60)
    expect = np.argsort(-np.abs(points), axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(r.reasons, expect)
    plain = score(prof, fs(matrix), {})
    np.testing.assert_allclose(plain.score, r.score)


def test_uncapped_profile_skips_the_clip():
    sigs = [signal("count", name=f"s{j}", weight=1.0) for j in range(3)]
    matrix = np.array([[1.0, 2.0, 3.0], [-4.0, 1.0, 1.0]])
    r = score(profile(sigs, max_points=10), fs(matrix), {})
    np.testing.assert_allclose(r.engagement, [60, 0])


def test_feature_matrix_shape_is_checked():
    with pytest.raises(ValueError, match="feature matrix"):
        score(profile(SIGNALS), fs(np.zeros((3, 2))), {})


def test_assign_tiers_absolute():
    tiers = Tiers(TierMode.ABSOLUTE, ("cold", "warm", "hot"), (10.0, 40.0, 70.0))
    s = np.array([0, 9.99, 10, 39.9, 40, 69.99, 70, 100])
    np.testing.assert_array_equal(assign_tiers(tiers, s), [0, 0, 0, 0, 1, 1, 2, 2])
    eligible = np.array([True] * 7 + [False])
    np.testing.assert_array_equal(assign_tiers(tiers, s, eligible), [0, 0, 0, 0, 1, 1, 2, -1])
    assert assign_tiers(tiers, s).dtype == np.int32


def test_assign_tiers_many_thresholds_uses_searchsorted_consistently():
    cuts = tuple(float(c) for c in range(0, 100, 10))
    tiers = Tiers(TierMode.ABSOLUTE, tuple(f"t{c}" for c in cuts), cuts)
    s = np.array([-5, 0, 5, 10, 55, 99, 100])
    np.testing.assert_array_equal(assign_tiers(tiers, s), [0, 0, 0, 1, 5, 9, 9])


def test_assign_tiers_quantile_over_eligible_population():
    tiers = Tiers(TierMode.QUANTILE, ("q1", "q2", "q3", "q4"), (0.0, 0.25, 0.5, 0.75))
    s = np.arange(100, dtype=np.float64)
    t = assign_tiers(tiers, s)
    np.testing.assert_array_equal(np.bincount(t), [25, 25, 25, 25])
    np.testing.assert_array_equal(t[[0, 24, 25, 74, 75, 99]], [0, 0, 1, 2, 3, 3])
    # Ineligible entities neither get a tier nor move the cut points.
    s2 = np.concatenate([s, [1000.0] * 50])
    eligible = np.arange(150) < 100
    t2 = assign_tiers(tiers, s2, eligible)
    np.testing.assert_array_equal(t2[:100], t)
    np.testing.assert_array_equal(t2[100:], -1)
    nobody = assign_tiers(tiers, s, np.zeros(100, bool))
    np.testing.assert_array_equal(nobody, -1)


def test_score_quantile_tiers_exclude_disqualified():
    tiers = Tiers(TierMode.QUANTILE, ("low", "high"), (0.0, 0.5))
    prof = profile(SIGNALS, max_points=50, disqualify=DISQUALIFY, tiers=tiers)
    r = score(prof, fs(), ATTRS)
    # Eligible scores 14 and 0: the median cut is 7.
    np.testing.assert_array_equal(r.tier, [1, -1, -1, 0])


def test_fit_ranges_overlap_first_listed_wins_and_nan_scores_nothing():
    rule = FitRule(
        "employees",
        ranges=(
            NumericRange(None, 10, 1),  # open below: NaN must still get 0
            NumericRange(5, 50, 2),  # overlaps [5, 10) - the first range wins there
            NumericRange(40, None, 3),
        ),
    )
    prof = profile(SIGNALS, max_points=50, fit=(rule,), fit_weight=1.0)
    x = np.array([-1e9, 0, 5, 9.99, 10, 39, 40, 49.9, 50, 1e9, np.nan])
    feats = fs(np.zeros((x.size, 3)))
    r = score(prof, feats, {"employees": x}, explain=True)
    np.testing.assert_allclose(r.contributions[:, 3], [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 0])


def test_fit_with_many_range_edges_uses_the_same_table():
    ranges = tuple(NumericRange(float(i), float(i + 1), float(i % 7)) for i in range(100))
    prof = profile(SIGNALS, max_points=50, fit=(FitRule("x", ranges=ranges),), fit_weight=1.0)
    x = np.array([-1, 0, 0.5, 6.2, 99.9, 100, np.nan])
    r = score(prof, fs(np.zeros((x.size, 3))), {"x": x}, explain=True)
    np.testing.assert_allclose(r.contributions[:, 3], [0, 0, 0, 6, 99 % 7, 0, 0])


def test_empty_population_scores_to_empty_arrays():
    prof = profile(SIGNALS, max_points=50, fit=FIT, disqualify=DISQUALIFY)
    empty = {k: v[:0] for k, v in ATTRS.items()}
    r = score(prof, fs(np.zeros((0, 3))), empty, explain=True)
    assert r.score.shape == (0,) and r.tier.shape == (0,) and r.reasons.shape == (0, 3)
    assert r.contributions.shape == (0, 5)


@pytest.mark.parametrize("rows", [3, 65, 200])
def test_fit_ranges_agree_for_few_and_many_rows(rows):
    # Up to 64 rows a range fit is one searchsorted, above it one compare per edge.
    rule = FitRule("x", ranges=(NumericRange(None, 0.0, 4), NumericRange(0.0, 10, 2)))
    prof = profile(SIGNALS, max_points=50, fit=(rule,), fit_weight=1.0)
    x = np.resize(np.array([-5.0, -0.0, 0.0, 3.0, 10.0, np.inf, -np.inf, np.nan]), rows)
    r = score(prof, fs(np.zeros((rows, 3))), {"x": x}, explain=True)
    expected = np.resize(np.array([4.0, 2, 2, 2, 0, 0, 4, 0]), rows)
    np.testing.assert_array_equal(r.contributions[:, 3], expected)


def test_cached_plan_follows_a_replaced_profile():
    from dataclasses import replace

    prof = profile(SIGNALS, max_points=50, fit=FIT, fit_weight=0.4, disqualify=DISQUALIFY)
    r1 = score(prof, fs(), ATTRS)
    r2 = score(replace(prof, max_points=25.0, fit_weight=0.0), fs(), ATTRS)
    np.testing.assert_allclose(r2.score, np.clip([7, 13, 200, -12], 0, 25) * 4)
    np.testing.assert_array_equal(score(prof, fs(), ATTRS).score, r1.score)  # unchanged


def test_one_c_order_row_uses_the_tiled_bounds_correctly():
    prof = profile(SIGNALS, max_points=50)
    many = score(prof, fs(), {}, explain=True)
    for i, row in enumerate(F):
        one = score(prof, fs(np.ascontiguousarray(row[None, :])), {}, explain=True)
        np.testing.assert_array_equal(one.contributions[0], many.contributions[i])
        assert one.engagement[0] == many.engagement[i]


def test_a_fit_rule_without_its_attribute_awards_zero_next_to_one_with_it():
    prof = profile(SIGNALS, max_points=50, fit=FIT, fit_weight=0.4)
    r = score(prof, fs(), {"seniority": ATTRS["seniority"]}, explain=True)
    np.testing.assert_array_equal(r.contributions[:, 3], [15, -5, 0, 20])
    np.testing.assert_array_equal(r.contributions[:, 4], 0.0)
    np.testing.assert_allclose(r.fit, 100 * np.clip([15, -5, 0, 20], 0, None) / FIT_MAX)


@pytest.mark.parametrize(
    "ranges",
    [
        (NumericRange(None, 0.0, -0.0), NumericRange(0.0, 5.0, 3)),  # NaN scores -0.0
        (NumericRange(None, 0.0, 2), NumericRange(0.0, None, -0.0)),  # NaN scores 0.0
        (NumericRange(1.0, 2.0, 1), NumericRange(2.0, None, 0.0)),
        (NumericRange(None, None, 7),),
        (),
    ],
)
def test_few_row_range_fit_is_bytewise_the_many_row_one(ranges):
    prof = profile(SIGNALS, max_points=50, fit=(FitRule("x", ranges=ranges),), fit_weight=1.0)
    x = np.array([np.nan, -np.inf, -1.0, -0.0, 0.0, 1.0, 1.5, 2.0, 4.9, 5.0, np.inf])
    many = np.resize(x, 100)
    few_r = score(prof, fs(np.zeros((x.size, 3))), {"x": x}, explain=True)
    many_r = score(prof, fs(np.zeros((many.size, 3))), {"x": many}, explain=True)
    assert few_r.contributions[:, 3].tobytes() == many_r.contributions[: x.size, 3].tobytes()


def test_tiled_bounds_grow_with_the_largest_c_order_request():
    prof = profile(SIGNALS, max_points=50)
    fortran = score(prof, fs(np.asfortranarray(F)), {}, explain=True)
    for rows in (1, 4, 2, 4, 1):
        r = score(prof, fs(np.ascontiguousarray(F[:rows])), {}, explain=True)
        assert r.contributions.tobytes() == fortran.contributions[:rows].tobytes()
        assert r.engagement.tobytes() == fortran.engagement[:rows].tobytes()
