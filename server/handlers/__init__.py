"""Transport-neutral use cases: Service (scoring and events) and ProfileHandlers (profiles,
shadows, evaluation), request validation, paging and the watch hub. The rpc and http
layers only convert and call these.
"""

from prioscore.server.core import StagedProfile
from prioscore.server.handlers.evaluation import Outcomes
from prioscore.server.handlers.ingest import CheckedEvents, IngestResult, check_batch
from prioscore.server.handlers.ingest_queue import IngestStream
from prioscore.server.handlers.process_pool import ProcessPool
from prioscore.server.handlers.profile_handlers import ProfileHandlers, ProfilePage, ProfileView
from prioscore.server.handlers.queries import RankQuery
from prioscore.server.handlers.requests import (
    GROUP,
    IDENTIFY,
    TRACK,
    IncomingEntity,
    IncomingEvents,
)
from prioscore.server.handlers.resolved_service import ResolvedService
from prioscore.server.handlers.retention import Retention
from prioscore.server.handlers.segment import parse_calls, parse_json, segment_events
from prioscore.server.handlers.segment_fields import parse_time
from prioscore.server.handlers.service import Service
from prioscore.server.handlers.watch import (
    MAX_CHANGES_PER_BATCH,
    WATCHER_QUEUE_SIZE,
    WatchedChange,
    WatchFilter,
    tier_set,
)
from prioscore.server.handlers.wiring import Handlers, build_handlers

__all__ = [
    "GROUP",
    "IDENTIFY",
    "MAX_CHANGES_PER_BATCH",
    "TRACK",
    "WATCHER_QUEUE_SIZE",
    "CheckedEvents",
    "Handlers",
    "IncomingEntity",
    "IncomingEvents",
    "IngestResult",
    "IngestStream",
    "Outcomes",
    "ProcessPool",
    "ProfileHandlers",
    "ProfilePage",
    "ProfileView",
    "RankQuery",
    "ResolvedService",
    "Retention",
    "Service",
    "StagedProfile",
    "WatchFilter",
    "WatchedChange",
    "build_handlers",
    "check_batch",
    "parse_calls",
    "parse_json",
    "parse_time",
    "segment_events",
    "tier_set",
]
