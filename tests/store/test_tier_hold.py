"""Alert hysteresis where scores are stored: write_scores with a profile's TierHold keeps
a tier that only wobbles around a boundary, and a fresh tier until it has been held."""

from __future__ import annotations

import dataclasses

import numpy as np

from prioscore.server.engine import Hysteresis
from prioscore.server.profiles.bundled import DIRECTORY
from prioscore.server.profiles.loading import load_directory
from prioscore.server.store import Store, TierHold
from prioscore.server.store.score_mirror import ScoreMirror
from prioscore.server.store.slots import SlotTable
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


def test_indices_of_codes_are_the_positions_of_the_names() -> None:
    """TierHold reads tiers as the score mirror's codes: each code's index is its name's
    position among the tier names, -1 for "" and for a name that is not a tier (a
    tier renamed since it was stored), whatever order the mirror coded them in."""
    rng = np.random.default_rng(3)
    vocabulary = [*NAMES, "", "legacy", "Hot", "hot "]
    mirror = ScoreMirror(SlotTable())
    mirror.tier_codes(rng.permutation(vocabulary).tolist())  # coded in another order
    names = [vocabulary[i] for i in rng.integers(0, len(vocabulary), 5_000)]
    hold = TierHold(NAMES, CUTS, margin=3.0, min_days_in_tier=0.0)
    got = hold.indices(mirror.tier_codes(names), mirror.tiers)
    assert got.tolist() == [NAMES.index(n) if n in NAMES else -1 for n in names]
    back = mirror.tier_names(hold.codes(got, mirror.tiers))
    assert back.tolist() == [n if n in NAMES else "" for n in names]
    twice = TierHold(("cold", "warm", "cold"), None, margin=0.0, min_days_in_tier=1.0)
    assert twice.indices(mirror.tier_codes(["cold", "warm"]), mirror.tiers).tolist() == [2, 1]


def test_held_tiers_are_the_name_by_name_rule(store: Store) -> None:
    """write_scores with a hold, over stored tiers of every kind (a tier, "" for
    disqualified, a name no longer a tier, no row), keeps what the margin rule says
    entity by entity on names, and records exactly the changes of those names."""
    rng = np.random.default_rng(8)
    hold = TierHold(NAMES, CUTS, margin=4.0, min_days_in_tier=0.0)
    ids = [f"e{i:03d}" for i in range(300)]
    stored = {i: "legacy" for i in ids[:40]}  # stored under tiers since renamed
    store.write_scores("p", 1, scores(ids[:40], [50.0] * 40, ["legacy"] * 40, ts=1.0))
    for step in range(6):
        chosen = sorted(rng.choice(ids, 120, replace=False).tolist())
        score = np.round(rng.uniform(0, 100, 120), 1)
        out = (rng.random(120) < 0.15).tolist()  # disqualified: tier ""
        tiers = ["" if o else tier_of(s) for s, o in zip(score, out, strict=True)]
        rows = scores(chosen, score.tolist(), tiers, ts=10.0 + step, disqualified=out)
        changes = store.write_scores("p", 1, rows, hold=hold)
        expected = []
        for entity, s, new in zip(chosen, score.tolist(), tiers, strict=True):
            before = stored.get(entity, "")
            at = NAMES.index(before) if before in NAMES else -1
            if at >= 0 and new:  # clip(previous, tier(score - margin), tier(score + margin))
                low, high = NAMES.index(tier_of(max(s - 4.0, 0.0))), NAMES.index(tier_of(s + 4.0))
                new = NAMES[min(max(at, low), high)]
            if new != before:
                expected.append((entity, before, new))
            stored[entity] = new
        assert [(c.entity_id, c.previous_tier, c.tier) for c in changes] == expected, step
    kept = store.get_scores("p", ids)
    assert {i: kept[i].tier for i in kept} == stored
