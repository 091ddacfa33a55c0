"""The per-profile scoring plan: what score() derives from the profile alone.

Caps fold into the features - clip(w*f, -c, c) == w * clip(f, -c/|w|, c/|w|) - so the
scoring pass reads the matrix once, like the `X @ w` it is measured against; the bounds
are computed here. With the fit rule tables, normalisation constants, disqualifier texts
and tier cut points they are built once per Profile object and cached by engine.plans.
"""

from __future__ import annotations

import numpy as np

from prioscore.server.engine.blocks import BLOCK_ROWS
from prioscore.server.engine.fit import FitPlan, first_positions, fit_award
from prioscore.server.engine.model import Combine, Profile, TierMode
from prioscore.server.engine.plans import profile_plan


def cap_bounds(profile: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, low, high) so that w * clip(f, low, high) == clip(w * f, -cap, cap)."""
    w = np.array([s.weight for s in profile.signals], dtype=np.float64)
    cap = np.array([np.inf if s.cap is None else s.cap for s in profile.signals], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # tiny |w| -> inf
        high = np.where(w != 0, cap / np.abs(w), 0.0)
        for _ in range(4):  # rounding (denormal caps): step down until |w| * high <= cap
            over = np.abs(w) * high > cap
            if not over.any():
                break
            high[over] = np.nextafter(high[over], 0.0)
    return w, -high, high


class _ScorePlan:
    """What score() derives from the profile alone, built once per Profile object
    (engine.plans): weights and cap bounds (tiled lazily for C-order input), fit rule
    tables, normalisation constants, disqualifier texts and tier cut points. Arrays are
    read-only (shared by concurrent requests); no reference to the Profile is kept."""

    def __init__(self, profile: Profile) -> None:
        self.columns = (*profile.signal_names, *(f"fit:{rule.attribute}" for rule in profile.fit))
        self.w, self.lo, self.hi = _frozen(*cap_bounds(profile))
        self.capped = bool(np.isfinite(self.hi).any())
        self._tiled: tuple[np.ndarray, np.ndarray] | None = None
        self.fits = tuple((rule.attribute, FitPlan(rule)) for rule in profile.fit)
        self.fit_max = sum(fit_award(rule) for rule in profile.fit)
        self.fit_scale = 100.0 / self.fit_max if self.fit_max > 0 else 0.0
        self.max_points = float(profile.max_points)
        self.eng_scale = 100.0 / self.max_points if self.max_points > 0 else 0.0
        self.blend = float(profile.fit_weight) if profile.fit else 0.0
        self.disqualify = tuple(
            (
                rule.attribute,
                rule.values,
                tuple(rule.reason or f"{rule.attribute} is {v}" for v in rule.values),
                first_positions(rule.values),
            )
            for rule in profile.disqualify
            if rule.values
        )
        self.scope = tuple(
            (
                rule.attribute,
                rule.values,
                rule.reason
                or f"outside the profile's scope: {rule.attribute} is not "
                + " / ".join(rule.values),
                first_positions(rule.values),
            )
            for rule in profile.scope
        )
        self.multiply = Combine(profile.combine) is Combine.MULTIPLY and bool(profile.fit)
        self.absolute = TierMode(profile.tiers.mode) is TierMode.ABSOLUTE
        (self.cuts,) = _frozen(np.asarray(profile.tiers.thresholds, dtype=np.float64))
        # For engine.one_row: weights and cuts as Python floats, and every attribute a
        # rule reads.
        self.w_list = tuple(self.w.tolist())
        self.cut_list = tuple(self.cuts.tolist())
        self.attribute_names = tuple(
            dict.fromkeys(
                [a for a, _ in self.fits]
                + [rule[0] for rule in self.scope]
                + [rule[0] for rule in self.disqualify]
            )
        )

    def tiled_bounds(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) repeated for `rows` C-order rows (at most a block; callers slice
        [: rows * s]); kept and grown to the largest request seen, so one-row requests
        hold a few bytes, not a whole block's worth."""
        reps = max(1, min(rows, BLOCK_ROWS))
        tiled = self._tiled
        if tiled is None or tiled[0].size < reps * self.lo.size:
            lo, hi = _frozen(np.tile(self.lo, reps), np.tile(self.hi, reps))
            tiled = self._tiled = lo, hi
        return tiled


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.setflags(write=False)
    return arrays


def score_plan_of(profile: Profile) -> _ScorePlan:
    return profile_plan(profile, "scoring", _ScorePlan)
