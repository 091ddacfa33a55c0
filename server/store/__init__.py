"""SQLite, the durable truth: schema and migrations, events (deduplicated on message_id),
entities, scores, history, tier changes and relations. Numpy columns and frozen records
out; no protobuf, no engine calls.
"""

from prioscore.server.store.attribute_sql import CATEGORICAL_SQL
from prioscore.server.store.database import (
    PAGE_CACHE_KIB,
    DatabaseUnusableError,
    EntityRecord,
    EraseCounts,
    EventBatch,
    HistoryPoint,
    PurgeCounts,
    RelatedRows,
    ScoreRows,
    Store,
    StoredScore,
    TierChangeRecord,
)
from prioscore.server.store.mirrored import MirroredEntities
from prioscore.server.store.narrow import narrow_codes, narrow_floats
from prioscore.server.store.promotions import PromotionState, StoredPromotion
from prioscore.server.store.records import Cause, ordered, texts_to_codes
from prioscore.server.store.score_queries import counts_cover
from prioscore.server.store.scores import HISTORY_INTERVAL
from prioscore.server.store.shadow_tables import SHADOW_SUFFIX, StoredShadow
from prioscore.server.store.slots import SlotIds, SlotTable, joined, taken
from prioscore.server.store.tier_hold import TierHold

__all__ = [
    "CATEGORICAL_SQL",
    "HISTORY_INTERVAL",
    "PAGE_CACHE_KIB",
    "SHADOW_SUFFIX",
    "Cause",
    "DatabaseUnusableError",
    "EntityRecord",
    "EraseCounts",
    "EventBatch",
    "HistoryPoint",
    "MirroredEntities",
    "PromotionState",
    "PurgeCounts",
    "RelatedRows",
    "ScoreRows",
    "SlotIds",
    "SlotTable",
    "Store",
    "StoredPromotion",
    "StoredScore",
    "StoredShadow",
    "TierChangeRecord",
    "TierHold",
    "counts_cover",
    "joined",
    "narrow_codes",
    "narrow_floats",
    "ordered",
    "taken",
    "texts_to_codes",
]
