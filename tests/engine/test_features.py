"""Hand-computed expectations for every aggregate, categories, as_of and elimination."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine.features import assign_categories, compute_features
from prioscore.server.engine.model import SCORE_ONLY_AGGREGATES, Aggregate, CategoryRule

from .factory import AS_OF, DAY, Ev, events, profile, signal

# Entity 0: three page views (ages 0, 14, 28 days) and an email; entity 1: one page view
# 5 days ago plus one 2 days in the FUTURE (value 10) that must never count; entity 2:
# only an email; entity 3: nothing at all.
ROWS = [
    Ev(0, "page_view", 0, value=2, url="/pricing", clicks=3),
    Ev(0, "page_view", 14, value=1, url="/blog/a"),
    Ev(0, "page_view", 28, value=4, url="/pricing/enterprise", clicks=1),
    Ev(0, "email_open", 1),
    Ev(1, "page_view", 5, value=1, url="/careers"),
    Ev(1, "page_view", -2, value=10, url="/pricing", clicks=7),
    Ev(2, "email_open", 40),
]
MISSING = -7.0
CATEGORIES = (
    CategoryRule(name="pricing", prefixes=("/pricing",)),
    CategoryRule(name="careers", contains=("career",), eliminatory=True),
    CategoryRule(name="blog", equals=("/blog/a",)),
)


def features_of(sig, rows=ROWS, n=4, as_of=AS_OF, **kwargs):
    prof = profile([sig], **kwargs)
    return compute_features(prof, events(rows), n, as_of)


@pytest.mark.parametrize(
    ("sig", "expected"),
    [
        (signal("count"), [3, 1]),
        (signal("sum"), [2 + 1 + 4, 1]),
        (signal("decayed_count", half_life_days=14), [1 + 0.5 + 0.25, 0.5 ** (5 / 14)]),
        (signal("decayed_sum", half_life_days=14), [2 + 0.5 + 1, 0.5 ** (5 / 14)]),
        (signal("window_count", window_days=20), [2, 1]),
        (signal("window_sum", window_days=20), [3, 1]),
        (signal("days_since_last"), [0, 5]),
        (signal("days_since_first"), [28, 5]),
        (signal("distinct_days"), [3, 1]),
        # window 15: recent = ages in [0, 15), prior = [15, 30)
        (signal("trend", window_days=15), [(2 - 1) / (1 + 1), (1 - 0) / (0 + 1)]),
        (signal("exists"), [1, 1]),
        # value * clicks, missing clicks count as 1: (2*3 + 1*1 + 4*1) / 3
        (signal("density"), [11 / 3, 1]),
        # largest age / value: 0 / 2, 14 / 1, 28 / 4 -> 14; entity 1: 5 / 1
        (signal("deadline_elapsed"), [14, 5]),
    ],
    ids=lambda x: x.aggregate if hasattr(x, "aggregate") else None,
)
def test_every_aggregate_by_hand(sig, expected):
    sig = type(sig)(**{**sig.__dict__, "missing": MISSING})
    fs = features_of(sig)
    assert fs.matrix.shape == (4, 1)
    np.testing.assert_allclose(fs.matrix[:, 0], [*expected, MISSING, MISSING], rtol=1e-6)
    np.testing.assert_array_equal(fs.eliminated_by, [-1, -1, -1, -1])


def test_every_aggregate_is_covered():
    tested = {"count", "sum", "decayed_count", "decayed_sum", "window_count", "window_sum"}
    tested |= {"days_since_last", "days_since_first", "distinct_days", "trend", "exists"}
    tested |= {"density", "deadline_elapsed"}
    # The score-only aggregates fold related scores, not events: tests/engine/test_related.py.
    assert tested == {a.value for a in Aggregate if a not in SCORE_ONLY_AGGREGATES}


def test_window_is_open_at_the_far_edge_and_closed_at_as_of():
    rows = [Ev(0, "page_view", 0), Ev(0, "page_view", 10), Ev(0, "page_view", 9.999)]
    fs = features_of(signal("window_count", window_days=10), rows=rows, n=1)
    assert fs.matrix[0, 0] == 2  # age exactly 10 days is outside (as_of - 10d, as_of]


def test_distinct_days_counts_utc_days_not_events():
    # AS_OF is noon: ages 0 and 0.4 share a day, 0.6 is the previous day.
    rows = [Ev(0, "page_view", a) for a in (0, 0.4, 0.6, 3, 3.1)] + [Ev(1, "page_view", 0)]
    fs = features_of(signal("distinct_days"), rows=rows, n=2)
    np.testing.assert_array_equal(fs.matrix[:, 0], [3, 1])


def test_distinct_days_sort_fallback_matches_bitmap(monkeypatch):
    import prioscore.server.engine.aggregates as aggregates

    rows = [Ev(e, "page_view", a) for e in range(3) for a in (0, 0.4, 2, 2.2, 9)]
    expected = features_of(signal("distinct_days"), rows=rows, n=3).matrix
    monkeypatch.setattr(aggregates, "DENSE_DAY_CELLS", 0)
    fallback = features_of(signal("distinct_days"), rows=rows, n=3).matrix
    np.testing.assert_array_equal(fallback, expected)


def test_decay_halves_at_each_half_life():
    rows = [Ev(0, "page_view", 0), Ev(1, "page_view", 7), Ev(2, "page_view", 14)]
    fs = features_of(signal("decayed_count", half_life_days=7), rows=rows, n=3)
    np.testing.assert_allclose(fs.matrix[:, 0], [1, 0.5, 0.25], rtol=1e-6)


def test_missing_defaults_to_zero_and_recency_can_say_never():
    fs = compute_features(
        profile([signal("count"), signal("days_since_last", missing=365.0)]), events(ROWS), 4, AS_OF
    )
    np.testing.assert_allclose(fs.matrix[:, 0], [3, 1, 0, 0])
    np.testing.assert_allclose(fs.matrix[:, 1], [0, 5, 365, 365])


def test_event_name_absent_from_vocabulary_matches_nothing():
    fs = features_of(signal("count", event="webinar", missing=-1.0))
    np.testing.assert_array_equal(fs.matrix[:, 0], [-1, -1, -1, -1])


def test_signals_select_by_event_type():
    fs = features_of(signal("days_since_last", event="email_open", missing=-1.0))
    np.testing.assert_allclose(fs.matrix[:, 0], [1, -1, 40, -1])


def test_future_events_are_provably_ignored():
    # Entity 1's future event has value 10 and url /pricing: it would change every column.
    base = compute_features(profile([signal("sum"), signal("count")]), events(ROWS), 4, AS_OF)
    without = [r for r in ROWS if r.age >= 0]
    again = compute_features(profile([signal("sum"), signal("count")]), events(without), 4, AS_OF)
    np.testing.assert_array_equal(base.matrix, again.matrix)


def test_as_of_per_entity_is_point_in_time():
    # Entity 0 looks 10 days back (its age-0 event is now in the future), entity 1 looks
    # 3 days ahead (its "future" event, 2 days after AS_OF, is now 1 day old).
    as_of = np.array([AS_OF - 10 * DAY, AS_OF + 3 * DAY, AS_OF, AS_OF])
    prof = profile([signal("count"), signal("sum"), signal("days_since_last", missing=-1.0)])
    fs = compute_features(prof, events(ROWS), 4, as_of)
    np.testing.assert_allclose(fs.matrix[:, 0], [2, 2, 0, 0])
    np.testing.assert_allclose(fs.matrix[:, 1], [5, 11, 0, 0])
    np.testing.assert_allclose(fs.matrix[:, 2], [4, 1, -1, -1])


def test_as_of_array_must_have_one_value_per_entity():
    with pytest.raises(ValueError, match="as_of"):
        compute_features(profile([signal("count")]), events(ROWS), 4, np.array([AS_OF] * 3))


def test_entity_index_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="entity"):
        compute_features(profile([signal("count")]), events(ROWS), 2, AS_OF)


def test_missing_parameters_are_reported():
    with pytest.raises(ValueError, match="half_life_days"):
        features_of(signal("decayed_count"))
    with pytest.raises(ValueError, match="window_days"):
        features_of(signal("trend"))


def test_assign_categories_first_match_wins_and_missing_is_minus_one():
    ev = events(ROWS)
    cats = assign_categories(CATEGORIES, ev)
    assert cats.dtype == np.int32
    np.testing.assert_array_equal(cats, [0, 2, 0, -1, 1, 0, -1])
    # A catch-all rule listed first shadows the rest; a rule on an absent property is inert.
    rules = (CategoryRule("ghost", property="referrer", contains=("",)), *CATEGORIES)
    np.testing.assert_array_equal(assign_categories(rules, ev), [1, 3, 1, -1, 2, 1, -1])
    rules = (CategoryRule("any", contains=("/",)), *CATEGORIES)
    np.testing.assert_array_equal(assign_categories(rules, ev), [0, 0, 0, -1, 0, 0, -1])


def test_assign_categories_across_properties_keeps_profile_order():
    rows = [Ev(0, "page_view", 0, url="/x", plan="pro"), Ev(0, "page_view", 0, url="/pricing")]
    rules = (
        CategoryRule("pro", property="plan", equals=("pro",)),
        CategoryRule("x", equals=("/x",)),
        CategoryRule("pricing", prefixes=("/pri",)),
    )
    np.testing.assert_array_equal(assign_categories(rules, events(rows)), [0, 2])
    np.testing.assert_array_equal(assign_categories(rules[1:], events(rows)), [0, 1])
    assert assign_categories((), events(rows)).tolist() == [-1, -1]


def test_match_on_category_and_on_string_property():
    pricing = signal("count", match={"category": ("pricing",)}, missing=-1.0)
    fs = features_of(pricing, categories=CATEGORIES)
    # Entity 1's only pricing view is in the future.
    np.testing.assert_array_equal(fs.matrix[:, 0], [2, -1, -1, -1])
    rows = [
        Ev(0, "page_view", 1, plan="pro"),
        Ev(0, "page_view", 2, plan="free"),
        Ev(1, "page_view", 1),
    ]
    both = signal("count", match={"plan": ("pro", "team")})
    np.testing.assert_array_equal(features_of(both, rows=rows, n=2).matrix[:, 0], [1, 0])
    two_keys = signal("count", match={"plan": ("pro",), "url": ("/nope",)})
    np.testing.assert_array_equal(features_of(two_keys, rows=rows, n=2).matrix[:, 0], [0, 0])
    unknown_property = signal("count", match={"referrer": ("google",)})
    unknown = features_of(unknown_property, rows=rows, n=2)
    np.testing.assert_array_equal(unknown.matrix[:, 0], [0, 0])


def test_eliminatory_category_marks_entity_unless_event_is_future():
    fs = features_of(signal("count"), categories=CATEGORIES)
    np.testing.assert_array_equal(fs.eliminated_by, [-1, 1, -1, -1])
    future = [Ev(0, "page_view", -1, url="/careers"), Ev(1, "page_view", 1, url="/careers")]
    fs = features_of(signal("count"), rows=future, n=2, categories=CATEGORIES)
    np.testing.assert_array_equal(fs.eliminated_by, [-1, 1])


def test_eliminated_by_is_the_smallest_eliminatory_index_whatever_the_order():
    rules = (
        CategoryRule("jobs", equals=("/jobs",), eliminatory=True),
        CategoryRule("pricing", prefixes=("/pricing",)),
        CategoryRule("careers", contains=("career",), eliminatory=True),
    )
    rows = [Ev(0, "page_view", 1, url="/careers"), Ev(0, "email_open", 2, url="/jobs")]
    for ordered in (rows, rows[::-1]):
        fs = features_of(signal("count"), rows=ordered, n=1, categories=rules)
        assert fs.eliminated_by.tolist() == [0]  # any event type counts, not just signals'


def test_matrix_layout_and_dtype():
    prof = profile([signal("count"), signal("sum"), signal("exists")])
    fs = compute_features(prof, events(ROWS), 4, AS_OF)
    assert fs.matrix.dtype == np.float64 and fs.matrix.shape == (4, 3)
    assert fs.eliminated_by.dtype == np.int32
    empty = compute_features(prof, events([]), 3, AS_OF)
    np.testing.assert_array_equal(empty.matrix, np.zeros((3, 3)))


def test_profile_plan_is_reused_and_leaves_with_its_profile():
    import gc

    from prioscore.server.engine import plans

    sig = signal("decayed_count", half_life_days=14, match={"category": ("pricing",)})
    prof = profile([sig, signal("count")], categories=CATEGORIES)
    first = compute_features(prof, events(ROWS), 4, AS_OF)
    key = id(prof)
    plan = plans._plans[key]["features"]
    again = compute_features(prof, events(ROWS[:3]), 4, AS_OF)  # other events, same plan
    assert plans._plans[key]["features"] is plan
    np.testing.assert_array_equal(again.matrix[:1], first.matrix[:1])
    np.testing.assert_array_equal(again.matrix[1:], 0.0)
    del prof, plan
    gc.collect()
    assert key not in plans._plans


def test_invalid_profile_errors_on_every_call_not_only_the_first():
    prof = profile([signal("count"), signal("decayed_count", name="d")])
    for _ in range(2):
        with pytest.raises(ValueError, match="half_life_days"):
            compute_features(prof, events(ROWS), 4, AS_OF)


def _all_aggregates_profile():
    sigs = [
        signal(a, name=f"{a}-{e}", event=e, half_life_days=7, window_days=10)
        for a in ("count", "decayed_sum", "window_sum", "trend", "days_since_last")
        for e in ("page_view", "email_open", "absent")
    ]
    sigs.append(signal("sum", name="pricing", match={"category": ("pricing",)}))
    sigs.append(signal("count", name="blog-url", match={"url": ("/blog/a",)}))
    return profile(sigs, categories=CATEGORIES)


@pytest.mark.parametrize(
    "types",
    [
        ("page_view", "email_open"),
        ("email_open", "page_view", "page_view"),  # a repeated name: codes 1 and 2
        ("page_view",),  # email_open events carry an out-of-range code below
    ],
)
def test_small_batch_type_slices_equal_the_per_type_masks(monkeypatch, types):
    from prioscore.server.engine import selection

    rng = np.random.default_rng(7)
    rows = [
        Ev(int(e), str(t), float(a), url=str(u))
        for e, t, a, u in zip(
            rng.integers(0, 3, 40),
            rng.choice(["page_view", "email_open"], 40),
            rng.uniform(-3, 30, 40),
            rng.choice(["/pricing", "/blog/a", "/careers"], 40),
            strict=True,
        )
    ]
    cols = events(rows, ("page_view", "email_open"))
    matching = [[c for c, name in enumerate(types) if name == r.type] or [7] for r in rows]
    codes = np.array([rng.choice(m) for m in matching])  # 7: not a code of event_types
    cols.event_type = codes.astype(np.int32)
    cols.event_types = types
    prof = _all_aggregates_profile()
    sliced = compute_features(prof, cols, 3, AS_OF)
    monkeypatch.setattr(selection, "SORTED_TYPES_MAX_EVENTS", -1)
    masked = compute_features(prof, cols, 3, AS_OF)
    assert sliced.matrix.tobytes() == masked.matrix.tobytes()
    np.testing.assert_array_equal(sliced.eliminated_by, masked.eliminated_by)


def test_vocabulary_lookups_are_reused_only_for_equal_vocabularies(monkeypatch):
    from prioscore.server.engine import feature_plan, vocabulary

    prof = _all_aggregates_profile()
    uncached = vocabulary.VocabCache()
    monkeypatch.setattr(uncached, "get", lambda key: None)

    def run(rows):
        return compute_features(prof, events(rows), 2, AS_OF).matrix

    batches = [
        [Ev(0, "page_view", 1, url="/pricing"), Ev(1, "page_view", 2, url="/blog/a")],
        [Ev(1, "page_view", 1, url="/pricing"), Ev(0, "page_view", 2, url="/blog/a")],
        [Ev(0, "page_view", 1, url="/blog/a"), Ev(1, "page_view", 2, url="/careers")],
        [Ev(0, "page_view", 1, url=f"/u{i}") for i in range(300)]  # too big to cache
        + [Ev(1, "page_view", 2, url="/pricing")],
    ]
    cached = [run(rows) for rows in batches + batches]
    plan = feature_plan.feature_plan_of(prof)
    assert all(
        len(key[2]) <= plan.vocabularies.MAX_VOCABULARY for key in plan.vocabularies._lookups
    )
    monkeypatch.setattr(plan, "vocabularies", uncached)
    fresh = [run(rows) for rows in batches + batches]
    for a, b in zip(cached, fresh, strict=True):
        assert a.tobytes() == b.tobytes()
    assert cached[0][:, -2:].tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_vocabulary_cache_is_bounded(monkeypatch):
    from prioscore.server.engine import feature_plan, vocabulary

    monkeypatch.setattr(vocabulary.VocabCache, "MAX_ENTRIES", 3)
    prof = _all_aggregates_profile()
    for i in range(10):
        rows = [Ev(0, "page_view", 1, url=f"/pricing/{i}"), Ev(0, "page_view", 1, url="/blog/a")]
        fs = compute_features(prof, events(rows), 1, AS_OF)
        assert fs.matrix[0, -2:].tolist() == [1.0, 1.0]
    assert len(feature_plan.feature_plan_of(prof).vocabularies._lookups) <= 3


def _every_kind_profile(categories=CATEGORIES):
    from prioscore.server.engine.model import Relation, Signal

    sigs = [
        signal(a, name=f"{a}-{e}-{h}", event=e, half_life_days=h, window_days=h, missing=-h)
        for a in Aggregate
        if a not in SCORE_ONLY_AGGREGATES
        for e in ("page_view", "email_open", "absent")
        for h in (3.0, 10.0)
    ]
    sigs.insert(3, Signal("related", "", Aggregate.MAX, 1.0, scores="p", of=Relation.MEMBERS))
    sigs.append(signal("sum", name="pricing", match={"category": ("pricing", "blog")}))
    sigs.append(
        signal("trend", name="pricing-trend", window_days=4, match={"category": ("pricing",)})
    )
    sigs.append(signal("count", name="blog-url", match={"url": ("/blog/a", "/nope")}))
    sigs.append(signal("count", name="plan", match={"plan": ("pro",), "url": ("/pricing",)}))
    # Thinned groups (first per day, once per value, both, an absent property).
    sigs.append(signal("count", name="daily", per_day=1))
    sigs.append(signal("decayed_count", name="daily-2", half_life_days=3.0, per_day=2))
    sigs.append(signal("count", name="once-plan", event="email_open", once_per="plan"))
    sigs.append(signal("sum", name="once-url-daily", once_per="url", per_day=1))
    sigs.append(signal("count", name="once-colour", once_per="colour"))
    sigs.append(signal("sum", name="no-such-property", match={"colour": ("red",)}))
    return profile(sigs, categories=categories)


@pytest.mark.parametrize("categories", [CATEGORIES, ()])
@pytest.mark.parametrize("n_events", [0, 1, 5, 60])
@pytest.mark.parametrize("per_entity_as_of", [False, True])
def test_fused_small_batch_path_equals_the_per_group_path(
    monkeypatch, categories, n_events, per_entity_as_of
):
    """Small batches fold every sum-like aggregate in one bincount (small_batch.Fused); it
    must give exactly the bytes of the per-group path, for every aggregate, group kind
    (event type absent, category and string filters, an absent property), missing values,
    score signals between event signals, and a scalar or per-entity as_of."""
    from prioscore.server.engine import small_batch

    rng = np.random.default_rng(n_events)
    rows = [
        Ev(
            int(rng.integers(0, 4)),
            str(rng.choice(["page_view", "email_open"])),
            float(rng.choice([0.0, 0.5, 3.0, 4.0, 10.0, 20.0, -1.0, rng.uniform(-2, 40)])),
            value=float(rng.choice([1.0, 2.5, np.nan, -3.0])),
            url=rng.choice(["/pricing", "/blog/a", "/careers", None]),
            clicks=float(rng.choice([np.nan, 0.0, 2.0])),
            plan=rng.choice(["pro", "free", None]),
        )
        for _ in range(n_events)
    ]
    prof = _every_kind_profile(categories)
    as_of = AS_OF - np.array([0.0, 1.0, 2.5, 0.0, 9.0]) * DAY if per_entity_as_of else AS_OF
    fused = compute_features(prof, events(rows), 5, as_of)
    assert small_batch.fused_plan_of(prof).n_rows > 10
    monkeypatch.setattr(small_batch, "FUSED_MAX_EVENTS", -1)
    grouped = compute_features(prof, events(rows), 5, as_of)
    assert fused.matrix.flags.f_contiguous
    assert fused.matrix.tobytes() == grouped.matrix.tobytes()
    np.testing.assert_array_equal(fused.eliminated_by, grouped.eliminated_by)
