"""prioscore client library: talks to the server only through the generated stubs.

    from prioscore.clients import PrioscoreClient, events

    with PrioscoreClient("127.0.0.1:50051", token=None, timeout=10) as client:
        client.ingest([events.track("c1", "page_view", properties={"url": "/pricing"})])
        for score in client.rank("lead_qualification", limit=10):
            print(score.entity_id, score.score, score.tier)
        scores, tiers, tier_names, disqualified = client.score_matrix("churn_risk", matrix)

AsyncPrioscoreClient is the same API over grpc.aio (the core the sync client wraps).
Event builders are in prioscore.clients.events. The `prioscore` command
(prioscore.clients.cli) is built on this library; the library never imports it, so
using it pulls in neither click nor pyarrow.
"""

from prioscore.clients.client import AsyncPrioscoreClient
from prioscore.clients.errors import (
    AbortedError,
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PrioscoreClientError,
    ProtocolError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from prioscore.clients.models import EraseResult, IngestSummary, MatrixScores, Page
from prioscore.clients.retry import NO_RETRY, RetryPolicy
from prioscore.clients.sync import PrioscoreClient

__all__ = [
    "NO_RETRY",
    "AbortedError",
    "AsyncPrioscoreClient",
    "CancelledError",
    "DeadlineExceededError",
    "EraseResult",
    "FailedPreconditionError",
    "FieldViolation",
    "IngestSummary",
    "InternalError",
    "InvalidArgumentError",
    "MatrixScores",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "PrioscoreClient",
    "PrioscoreClientError",
    "ProtocolError",
    "ResourceExhaustedError",
    "RetryPolicy",
    "UnauthenticatedError",
    "UnavailableError",
]
