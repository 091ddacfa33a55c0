"""Stored entities through the engine: the stored scorer, account rollups and score signals,
the compact reasons encoding, and the result type the handlers return.
"""

from prioscore.server.scoring.pipeline import (
    population_tiers,
    reasons_encoder,
    retier,
    score_loaded,
    score_rows,
    tier_by_population,
)
from prioscore.server.scoring.reasons import (
    Contributor,
    Reason,
    contributors_of,
    decode_contributors,
    decode_reasons,
    reasons_of,
)
from prioscore.server.scoring.relations import (
    EventSource,
    Members,
    RelatedInputs,
    affected,
    fill_score_signals,
    load_events,
    load_related_scores,
    roll_up,
)
from prioscore.server.scoring.results import Scored
from prioscore.server.scoring.stored import POPULATION_CHUNK, StoredScorer

__all__ = [
    "POPULATION_CHUNK",
    "Contributor",
    "EventSource",
    "Members",
    "Reason",
    "RelatedInputs",
    "Scored",
    "StoredScorer",
    "affected",
    "contributors_of",
    "decode_contributors",
    "decode_reasons",
    "fill_score_signals",
    "load_events",
    "load_related_scores",
    "population_tiers",
    "reasons_encoder",
    "reasons_of",
    "retier",
    "roll_up",
    "score_loaded",
    "score_rows",
    "tier_by_population",
]
