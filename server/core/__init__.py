"""The live core: the one writer, the clock that keeps every stored score current, the
rescoring every write goes through, and the staged shadow profiles kept scored beside
their active versions."""

from prioscore.server.core.candidates import PromoteResult, StagedProfile, StageResult, shadow_key
from prioscore.server.core.live_core import LiveCore
from prioscore.server.core.live_events import LiveEvents
from prioscore.server.core.promotion_files import settle_interrupted
from prioscore.server.core.promotions import Promotions
from prioscore.server.core.rescoring import Rescorer
from prioscore.server.core.shadows import ShadowSet
from prioscore.server.core.worker import CoreWorker

__all__ = [
    "CoreWorker",
    "LiveCore",
    "LiveEvents",
    "PromoteResult",
    "Promotions",
    "Rescorer",
    "ShadowSet",
    "StageResult",
    "StagedProfile",
    "settle_interrupted",
    "shadow_key",
]
