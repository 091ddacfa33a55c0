"""Alert hysteresis where scores are stored: write_scores with a profile's TierHold keeps
a tier that only wobbles around a boundary, and a fresh tier until it has been held."""

from __future__ import annotations

import dataclasses

import numpy as np

from prioscore.server.engine import Hysteresis
from prioscore.server.profiles.bundled import DIRECTORY
from prioscore.server.profiles.loading import load_directory
from prioscore.server.store import Store, TierHold
from tests.store.builders import scores

DAY = 86_400.0
CUTS = np.array([0.0, 40.0, 70.0])
NAMES = ("cold", "warm", "hot")


def tier_of(score: float) -> str:
    return NAMES[int(np.searchsorted(CUTS, score, side="right")) - 1]


def write(store: Store, hold: TierHold, values: dict[str, float], ts: float) -> list[str]:
    ids = sorted(values)
    rows = scores(ids, [values[i] for i in ids], [tier_of(values[i]) for i in ids], ts=ts)
    changes = store.write_scores("p", 1, rows, hold=hold)
    return [f"{c.entity_id}:{c.previous_tier}->{c.tier}" for c in changes]


def test_margin_keeps_a_tier_that_wobbles_around_its_boundary(store: Store) -> None:
    hold = TierHold(NAMES, CUTS, margin=3.0, min_days_in_tier=0.0)
    assert write(store, hold, {"a": 75.0, "b": 50.0}, 1000.0) == ["a:->hot", "b:->warm"]
    assert write(store, hold, {"a": 68.0, "b": 71.5}, 2000.0) == []  # within 3 of the cut
    assert store.get_scores("p", ["a"])["a"].tier == "hot"  # the stored tier is held
    assert write(store, hold, {"a": 66.0, "b": 73.5}, 3000.0) == ["a:hot->warm", "b:warm->hot"]
    history = store.score_history("a", "p", limit=10)
    assert [h.tier for h in history][:2] == ["warm", "hot"]


def test_dwell_keeps_a_fresh_tier_until_it_has_been_held(store: Store) -> None:
    hold = TierHold(NAMES, CUTS, margin=0.0, min_days_in_tier=1.0)
    assert write(store, hold, {"a": 50.0}, 0.0) == ["a:->warm"]
    assert write(store, hold, {"a": 90.0}, 0.5 * DAY) == []
    assert write(store, hold, {"a": 90.0}, 1.5 * DAY) == ["a:warm->hot"]
    assert write(store, hold, {"a": 10.0}, 2.0 * DAY) == []  # hot only since day 1.5


def test_without_a_hold_tiers_follow_scores(store: Store) -> None:
    rows = scores(["a"], [75.0], ["hot"], ts=1.0)
    store.write_scores("p", 1, rows)
    changes = store.write_scores("p", 1, scores(["a"], [68.0], ["warm"], ts=2.0))
    assert [(c.previous_tier, c.tier) for c in changes] == [("hot", "warm")]


def test_a_profile_without_alerts_holds_nothing_and_quantile_tiers_only_dwell() -> None:
    bundled = load_directory(DIRECTORY)
    lead = TierHold.of(bundled["lead_qualification"])
    assert lead is not None and lead.margin == bundled["lead_qualification"].hysteresis.margin
    assert lead.cuts is not None and lead.cuts.tolist() == [0.0, 40.0, 70.0]
    assert TierHold.of(bundled["saas_renewal"]) is None  # no [alerts]
    quantile = bundled["saas_renewal"]
    with_dwell = Hysteresis(margin=5.0, min_days_in_tier=2.0)
    held = TierHold.of(dataclasses.replace(quantile, hysteresis=with_dwell))
    assert held is not None and held.cuts is None  # quantile cuts move: no margin gate
