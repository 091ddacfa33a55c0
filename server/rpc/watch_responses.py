"""The WatchTierChanges message of a change, built once for every stream that sends it.

A tier change goes to every watcher whose filter it passes: with 500 watchers of one
profile, an ingest's 1,000 changes were 500,000 messages built on the event loop, each
the same as 499 others. Streams only read the messages they yield (grpc serializes each
at its write), so one message per change serves them all.
"""

from __future__ import annotations

from prioscore.server.handlers import WATCHER_QUEUE_SIZE, WatchedChange
from prioscore.server.rpc.convert import tier_change_response
from prioscore.v1 import scoring_service_pb2 as scoring_pb


class TierChangeResponses:
    """Messages of the changes last sent, by (change id, account): a stream is at most
    WATCHER_QUEUE_SIZE changes behind the newest (the hub ends it then), so the messages
    of that many changes serve every stream still going; an older one is built again."""

    def __init__(self, size: int = WATCHER_QUEUE_SIZE) -> None:
        self._size = size
        self._built: dict[tuple[int, str], scoring_pb.WatchTierChangesResponse] = {}

    def of(self, change: WatchedChange) -> scoring_pb.WatchTierChangesResponse:
        """The (shared, not to be changed) message of `change`. The account is part of
        the key: a replayed change carries its entity's account as of the replay."""
        key = (change.record.id, change.account_id)
        response = self._built.get(key)
        if response is None:
            if len(self._built) >= self._size:
                del self._built[next(iter(self._built))]  # the oldest built
            response = self._built[key] = tier_change_response(change.record, change.account_id)
        return response


__all__ = ["TierChangeResponses"]
