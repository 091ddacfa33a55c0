"""Repeat caps, trend volume, scope, combine = multiply and tier hysteresis in the engine.

Each feature test runs both feature paths (the small-batch fused one and the general
per-group one, forced by lowering FUSED_MAX_EVENTS) and expects the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from prioscore.server.engine import (
    CategoricalColumn,
    Combine,
    FeatureSet,
    FitRule,
    Profile,
    ScopeRule,
    ScoreResult,
    Signal,
    compute_features,
    hold_tiers,
    repeats,
    score,
    small_batch,
)
from tests.engine.factory import AS_OF, Ev, events, profile, signal, strings

Paths = Callable[..., np.ndarray]


@pytest.fixture(params=["fused", "general"])
def features(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Paths:
    if request.param == "general":
        monkeypatch.setattr(small_batch, "FUSED_MAX_EVENTS", -1)

    def run(signals: list[Signal], rows: list[Ev], n: int) -> np.ndarray:
        return compute_features(profile(signals), events(rows), n, AS_OF).matrix

    return run


def test_per_day_counts_at_most_n_events_per_entity_and_day(features: Paths) -> None:
    burst = [Ev(0, "email_open", 0.01 * i) for i in range(10)]  # ten opens within minutes
    spread = [Ev(1, "email_open", float(day)) for day in range(3)]  # one a day, 3 days
    rows = burst + spread + [Ev(0, "email_open", 2.0), Ev(0, "email_open", 2.01)]
    capped = signal("count", event="email_open", per_day=1, name="capped")
    plain = signal("count", event="email_open", name="plain")
    matrix = features([capped, plain], rows, 2)
    assert matrix[:, 0].tolist() == [2.0, 3.0]  # entity 0: today once, two days ago once
    assert matrix[:, 1].tolist() == [12.0, 3.0]


def test_once_per_counts_the_first_event_per_property_value(features: Paths) -> None:
    rows = [
        Ev(0, "page_view", 5.0, plan="a"),
        Ev(0, "page_view", 3.0, plan="a"),
        Ev(0, "page_view", 1.0, plan="b"),
        Ev(1, "page_view", 1.0, plan="a"),
    ]
    once = signal("count", once_per="plan", name="once")
    newest = signal("days_since_last", once_per="plan", name="newest_first")
    matrix = features([once, newest], rows, 2)
    assert matrix[:, 0].tolist() == [2.0, 1.0]
    # the repeat of "a" three days ago does not count: the newest counted event is day 1
    assert matrix[0, 1] == pytest.approx(1.0)
    single = features([signal("days_since_last", once_per="plan")], rows[:2], 1)
    assert single[0, 0] == pytest.approx(5.0)  # only the first "a" (five days ago) counts


def test_trend_reads_zero_below_its_minimum_volume(features: Paths) -> None:
    rows = [Ev(0, "page_view", 1.0), Ev(0, "page_view", 2.0)]  # a brand-new visitor
    rows += [Ev(1, "page_view", d) for d in (1.0, 2.0, 3.0, 4.0, 5.0)]
    guarded = signal("trend", window_days=7, min_volume=4, name="guarded")
    raw = signal("trend", window_days=7, name="raw")
    matrix = features([guarded, raw], rows, 2)
    assert matrix[0].tolist() == [0.0, 2.0]
    assert matrix[1].tolist() == [5.0, 5.0]


def _scored(
    prof: Profile, fit_values: list[str], eng: list[float], **attrs: CategoricalColumn
) -> ScoreResult:
    n = len(eng)
    feats = FeatureSet(np.array(eng, dtype=np.float64)[:, None], np.full(n, -1, dtype=np.int32))
    return score(prof, feats, {"seniority": strings(fit_values), **attrs}, explain=True)


def test_multiply_never_lifts_an_unengaged_entity_above_an_engaged_one() -> None:
    fit = (FitRule("seniority", {"vp": 10.0, "intern": 0.0}),)
    sig = [signal("count", weight=1.0, cap=100.0)]
    blend = profile(sig, fit=fit, fit_weight=0.3)
    multiply = profile(sig, fit=fit, fit_weight=0.3, combine=Combine.MULTIPLY)
    # a perfect-fit VP who did nothing vs an intern with modest engagement
    cases = (["vp", "intern"], [0.0, 20.0])
    assert _scored(blend, *cases).score.tolist() == pytest.approx([30.0, 14.0])
    result = _scored(multiply, *cases)
    assert result.score.tolist() == pytest.approx([0.0, 14.0])
    # with equal engagement the better fit still ranks first, by up to fit_weight
    same = _scored(multiply, ["vp", "intern"], [50.0, 50.0]).score
    assert same.tolist() == pytest.approx([50.0, 35.0])


def test_scope_leaves_entities_outside_the_segment_unranked() -> None:
    prof = profile([signal("count", cap=100.0)], scope=(ScopeRule("region", ("emea",)),))
    result = _scored(
        prof, ["x", "x", "x"], [50.0, 50.0, 50.0], region=strings(["emea", "us", None])
    )
    assert result.disqualified.tolist() == [False, True, True]
    assert result.tier.tolist()[1:] == [-1, -1]
    assert "region" in result.disqualify_reason[1]
    absent = score(prof, FeatureSet(np.ones((1, 1)), np.full(1, -1, dtype=np.int32)), {})
    assert absent.disqualified.tolist() == [True]  # no attribute at all: outside


CUTS = np.array([0.0, 40.0, 70.0])


def _hold(previous: list[int], days: list[float], scores: list[float], **kw: float) -> list[int]:
    s = np.array(scores)
    tier = np.zeros(len(s), dtype=np.int32)
    tier[:] = (s >= 40).astype(int) + (s >= 70).astype(int)
    options = {"margin": 0.0, "min_days_in_tier": 0.0, **kw}
    return hold_tiers(CUTS, np.array(previous), np.array(days), s, tier, **options).tolist()


def test_hysteresis_margin_keeps_a_tier_until_the_boundary_is_cleared() -> None:
    # warm entities: 72 is within 5 of the hot cut, 76 clears it; 38 within 5 of warm's
    assert _hold([1, 1, 1, 1], [9, 9, 9, 9], [72, 76, 38, 34], margin=5) == [1, 2, 1, 0]
    # a cold entity jumping to 72 moves as far as the margin allows: warm, not hot
    assert _hold([0], [9], [72], margin=5) == [1]
    assert _hold([1, 1], [9, 9], [72, 38]) == [2, 0]  # no margin: tiers follow scores


def test_hysteresis_dwell_keeps_a_fresh_tier_and_new_entities_take_theirs() -> None:
    assert _hold([1, 1], [0.5, 2.0], [90, 90], min_days_in_tier=1) == [1, 2]
    assert _hold([-1], [0.0], [90], min_days_in_tier=1, margin=5) == [2]
    s = np.array([90.0])
    unranked = hold_tiers(
        CUTS, np.array([1]), np.array([9.0]), s, np.array([-1]), margin=5.0, min_days_in_tier=0.0
    )
    assert unranked.tolist() == [-1]


@pytest.mark.parametrize("per_day, once_per", [(1, ""), (3, ""), (0, "plan"), (2, "plan")])
def test_repeat_thinning_paths_agree(
    per_day: int, once_per: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-cell rounds, the lexsort for many cells and the small-batch lexsort keep the same
    events, and every kept event is among the first of its cell by time."""
    rng = np.random.default_rng(per_day * 10 + len(once_per))
    rows = [
        Ev(int(rng.integers(0, 40)), "page_view", float(rng.integers(0, 6 * 24)) / 24,
           plan=str(rng.choice(["a", "b", "c"])) if rng.random() > 0.1 else None)
        for _ in range(800)
    ]  # fmt: skip
    columns = events(rows)
    kept = []
    for small, dense in ((0, 1 << 27), (0, 0), (1 << 20, 1 << 27)):
        monkeypatch.setattr(repeats, "SORT_MAX_EVENTS", small)
        monkeypatch.setattr(repeats, "DENSE_CELLS", dense)
        monkeypatch.setattr(repeats, "SPARSE_CELLS_PER_EVENT", 1 << 30)  # dense means dense
        kept.append(repeats.thin_repeats(columns, None, per_day, once_per).tolist())
    assert kept[0] == kept[1] == kept[2]
    assert 0 < len(kept[0]) < len(rows)
    if per_day and not once_per:  # brute force: rank within (entity, day) by (ts, position)
        day = np.floor(columns.ts / 86_400.0)
        want = [
            i for i in range(len(rows))
            if sum(
                1 for j in range(len(rows))
                if columns.entity[j] == columns.entity[i] and day[j] == day[i]
                and (columns.ts[j], j) < (columns.ts[i], i)
            ) < per_day
        ]  # fmt: skip
        assert kept[0] == want


def test_deadline_elapsed_is_the_largest_share_of_a_target_gone(features: Paths) -> None:
    rows = [
        Ev(0, "page_view", 3.0, value=4.0),  # a 4-day target set 3 days ago: 0.75 gone
        Ev(0, "page_view", 1.0, value=0.5),  # a half-day target set a day ago: 2.0, breached
        Ev(1, "page_view", 1.0, value=8.0),
        Ev(2, "page_view", 1.0, value=0.0),  # no time allowed: a minute, long breached
        Ev(3, "page_view", -1.0, value=1.0),  # in the future: does not count yet
    ]
    elapsed = signal("deadline_elapsed", missing=0.0)
    matrix = features([elapsed], rows, 4)
    assert matrix[:, 0].tolist() == pytest.approx([2.0, 0.125, 1440.0, 0.0])
