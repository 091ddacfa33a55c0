"""What scoring stored or inline entities yields, shared by the scorer, the reasons
encoding and the handlers (a leaf module, so none of them imports another for it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from prioscore.server.engine import AttributeColumns, Profile, ScoreResult
from prioscore.server.scoring.relations import Contributors
from prioscore.server.store import taken


@dataclass
class Scored:
    """Scores of `entity_ids` under `profile`, with the features behind them and the
    attributes the fit rules read (so explanations can show the value behind points)."""

    profile: Profile
    entity_ids: Sequence[str]
    result: ScoreResult
    features: np.ndarray
    contributors: Contributors | None = None
    attributes: AttributeColumns | None = None
    # Contributors of the rows at given positions, when they are named only for rows
    # taken (a sweep's written rows) instead of up front in `contributors`.
    contributors_of_rows: Callable[[np.ndarray], Contributors | None] | None = None

    def take(self, rows: np.ndarray) -> Scored:
        """The entities at positions `rows` only: a write encodes reasons for the rows it
        keeps, not for every rescored one (most of a sweep's rows do not change)."""
        r = self.result
        result = replace(
            r,
            score=r.score[rows],
            engagement=r.engagement[rows],
            fit=r.fit[rows],
            tier=r.tier[rows],
            disqualified=r.disqualified[rows],
            disqualify_reason=r.disqualify_reason[rows],
            contributions=None if r.contributions is None else r.contributions[rows],
            reasons=None if r.reasons is None else r.reasons[rows],
        )
        named = self.contributors
        if named is None and self.contributors_of_rows is not None:
            named = self.contributors_of_rows(rows)
        elif named is not None:
            named = Contributors(named.entity_ids[rows], named.points[rows])
        ids = taken(self.entity_ids, rows)
        return Scored(self.profile, ids, result, self.features[rows], named)


__all__ = ["Scored"]
