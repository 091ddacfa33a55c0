"""The WatchTierChanges messages of changes, built once for every stream that sends them.

A tier change goes to every watcher whose filter it passes: with 500 watchers of one
profile, an ingest's 1,000 changes were 500,000 messages built (and serialized) on the
event loop, each the same as 499 others. So each change's message, or each batch's the
hub shares between watchers (max_changes_per_response), is built and serialized once,
and WatchTierChanges is registered on a serializer that sends those bytes as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from prioscore.server.handlers import WATCHER_QUEUE_SIZE, WatchedChange
from prioscore.server.rpc.convert import fill_tier_change, tier_change_response
from prioscore.server.rpc.inline_scoring import SERVICE, replace_method
from prioscore.v1 import scoring_service_pb2 as scoring_pb

Response = scoring_pb.WatchTierChangesResponse

# Batch messages kept: one per batch object the hub queued lately (watchers that share a
# filter share the batch); a miss builds the message again, the same.
BATCHES_KEPT = 256


class TierChangeResponses:
    """Serialized messages of the changes last sent, by (change id, account), and of the batches
    last sent, by the batch object: a stream is at most WATCHER_QUEUE_SIZE changes
    behind the newest (the hub ends it then), so that many serve every stream still
    going; an older one is built again."""

    def __init__(self, size: int = WATCHER_QUEUE_SIZE, batches: int = BATCHES_KEPT) -> None:
        self._size = size
        self._built: dict[tuple[int, str], bytes] = {}
        self._batches = batches
        # id(batch) -> (batch, message): the batch is kept, so its id is not reused.
        self._built_batches: dict[int, tuple[tuple[WatchedChange, ...], bytes]] = {}

    def of(self, change: WatchedChange) -> bytes:
        """The serialized message of `change`. The account is part of the key: a
        replayed change carries its entity's account as of the replay."""
        key = (change.record.id, change.account_id)
        built = self._built.get(key)
        if built is None:
            if len(self._built) >= self._size:
                del self._built[next(iter(self._built))]  # the oldest built
            message = tier_change_response(change.record, change.account_id)
            built = self._built[key] = message.SerializeToString()
        return built

    def of_batch(self, batch: tuple[WatchedChange, ...]) -> bytes:
        """The serialized message of a batch, its changes in `changes`."""
        kept = self._built_batches.get(id(batch))
        if kept is not None and kept[0] is batch:
            return kept[1]
        response = Response()
        add = response.changes.add
        for change in batch:
            fill_tier_change(add(), change.record, change.account_id)
        if len(self._built_batches) >= self._batches:
            del self._built_batches[next(iter(self._built_batches))]
        built = response.SerializeToString()
        self._built_batches[id(batch)] = (batch, built)
        return built


def response_bytes(response: Response | bytes) -> bytes:
    """WatchTierChanges' serializer: TierChangeResponses has serialized its messages."""
    return response if isinstance(response, bytes) else response.SerializeToString()


def register(server: grpc.aio.Server, watch: Callable[..., Any]) -> None:
    """Registers WatchTierChanges on response_bytes."""
    handler = grpc.unary_stream_rpc_method_handler(
        watch,
        request_deserializer=scoring_pb.WatchTierChangesRequest.FromString,
        response_serializer=response_bytes,
    )
    replace_method(server, SERVICE, "WatchTierChanges", handler)


__all__ = ["BATCHES_KEPT", "TierChangeResponses", "register", "response_bytes"]
