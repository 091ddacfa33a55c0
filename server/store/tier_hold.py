"""Alert hysteresis where stored scores are written: which tier an entity keeps.

The decision is engine.tiers.hold_tiers (pure); this module turns a profile into what it
needs (tier names, absolute cut points, the [alerts] settings) and reads how long each
entity has held its stored tier (its last tier change). Quantile tiers have no fixed cut
points here (they move with the population), so only their dwell gate applies.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prioscore.server.engine import SECONDS_PER_DAY, Profile, TierMode, hold_tiers
from prioscore.server.store.records import ids_json
from prioscore.server.store.score_mirror import ScoreMirror
from prioscore.server.store.slots import SlotTable


@dataclass(frozen=True)
class TierHold:
    """A profile's hysteresis: tier names (ascending), absolute cuts (None for quantile
    tiers: no margin gate), margin in points and the minimum days in a tier."""

    names: tuple[str, ...]
    cuts: np.ndarray | None
    margin: float
    min_days_in_tier: float

    @classmethod
    def of(cls, profile: Profile) -> TierHold | None:
        """None when the profile sets no [alerts] (tiers then follow scores exactly)."""
        hold = profile.hysteresis
        if not (hold.margin or hold.min_days_in_tier):
            return None
        absolute = TierMode(profile.tiers.mode) is TierMode.ABSOLUTE
        cuts = np.asarray(profile.tiers.thresholds, dtype=np.float64) if absolute else None
        return cls(profile.tiers.names, cuts, hold.margin, hold.min_days_in_tier)

    def indices(self, codes: np.ndarray, table: SlotTable) -> np.ndarray:
        """Tier codes (names coded by `table`, the score mirror's) -> int32 indices into
        `names`, -1 for "" (unranked) or a name not among them. One look-up per tier
        and one take: one object-array `==` per tier cost ~3 ms per tier at 200k rows."""
        index = np.full(len(table), -1, dtype=np.int32)
        known = table.codes
        for i, name in enumerate(self.names):  # a later duplicate wins, as `==` did
            if (code := known.get(name)) is not None:
                index[code] = i
        return index[codes]

    def codes(self, indices: np.ndarray, table: SlotTable) -> np.ndarray:
        """int32 indices into `names` (-1 unranked: "") -> int16 codes in `table`."""
        return table.of([*self.names, ""], add=True).astype(np.int16)[indices]


def held_tiers(
    conn: sqlite3.Connection,
    hold: TierHold,
    profile: str,
    entity_ids: Sequence[str],
    score: np.ndarray,
    tier: np.ndarray,
    previous_tier: np.ndarray,
    now: float,
    mirror: ScoreMirror,
) -> np.ndarray:
    """The tiers to store, as codes in `mirror.tiers`: `tier` where hysteresis lets it
    change, else the previous tier (both codes, as ScoreMirror.tier_codes and previous
    make them).
    Days in tier are read only when the dwell gate is on."""
    table = mirror.tiers
    previous = hold.indices(previous_tier, table)
    held_days = np.full(len(entity_ids), np.inf)
    if hold.min_days_in_tier and (previous >= 0).any():
        since = conn.execute(
            "SELECT j.key, MAX(t.ts) FROM json_each(?) AS j CROSS JOIN tier_changes AS t"
            " ON t.profile = ? AND t.entity_id = j.value GROUP BY j.key",
            (ids_json(entity_ids), profile),
        ).fetchall()
        if since:
            pos, ts = (np.array(column) for column in zip(*since, strict=True))
            held_days[pos.astype(np.int64)] = (now - ts.astype(np.float64)) / SECONDS_PER_DAY
    cuts = hold.cuts if hold.cuts is not None else np.zeros(1)
    margin = hold.margin if hold.cuts is not None else 0.0
    kept = hold_tiers(
        cuts,
        previous,
        held_days,
        score,
        hold.indices(tier, table),
        margin=margin,
        min_days_in_tier=hold.min_days_in_tier,
    )
    return hold.codes(kept, table)


__all__ = ["TierHold", "held_tiers"]
