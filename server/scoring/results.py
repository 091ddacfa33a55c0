"""What scoring stored or inline entities yields, shared by the scorer, the reasons
encoding and the handlers (a leaf module, so none of them imports another for it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prioscore.server.engine import AttributeColumns, Profile, ScoreResult
from prioscore.server.scoring.relations import Contributors


@dataclass
class Scored:
    """Scores of `entity_ids` under `profile`, with the features behind them and the
    attributes the fit rules read (so explanations can show the value behind points)."""

    profile: Profile
    entity_ids: list[str]
    result: ScoreResult
    features: np.ndarray
    contributors: Contributors | None = None
    attributes: AttributeColumns | None = None


__all__ = ["Scored"]
