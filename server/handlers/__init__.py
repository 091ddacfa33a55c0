"""Transport-neutral use cases: Service (scoring and events) and ProfileHandlers (profiles,
shadows, evaluation), request validation, paging and the watch hub. The rpc and http
layers only convert and call these.
"""

from prioscore.server.handlers.evaluation import Outcomes, run_backtest, run_calibrate, run_compare
from prioscore.server.handlers.paging import decode_token, encode_token, fingerprint, page_size
from prioscore.server.handlers.requests import (
    GROUP,
    IDENTIFY,
    TRACK,
    IncomingEntity,
    IncomingEvents,
)
from prioscore.server.handlers.service import RankQuery, Service
from prioscore.server.handlers.shadows import SHADOW_SUFFIX, StagedProfile
from prioscore.server.handlers.watch import WatchFilter, tier_set

__all__ = [
    "GROUP",
    "IDENTIFY",
    "SHADOW_SUFFIX",
    "TRACK",
    "IncomingEntity",
    "IncomingEvents",
    "Outcomes",
    "RankQuery",
    "Service",
    "StagedProfile",
    "WatchFilter",
    "decode_token",
    "encode_token",
    "fingerprint",
    "page_size",
    "run_backtest",
    "run_calibrate",
    "run_compare",
    "tier_set",
]
