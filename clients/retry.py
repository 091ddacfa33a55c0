"""Retries with exponential backoff, only where repeating a call cannot change the outcome.

Which calls retry (on UNAVAILABLE and DEADLINE_EXCEEDED only — every other code is an
answer, not a transport hiccup):

* reads — ScoreEntities, RankEntities, GetScoreHistory, ListProfiles, GetProfile,
  ValidateProfile, Backtest, Calibrate, CompareProfiles: read-only by contract;
* StreamScores: read-only; the batches not yet answered are re-sent on a new stream;
* IngestEvents: the server dedupes on message_id, so re-sending a batch that was in fact
  stored only counts it as duplicates (the client replays the current stream's batches);
* ReloadProfiles: re-reads the same files, all or nothing;
* StageProfile and DeleteShadowProfile: staging the same candidate again replaces the
  shadow with the same one; a discarded shadow stays discarded;
* EraseEntity: the end state ("nothing stored about X") is the same however often it
  runs; a retry that finds nothing left reports that instead of failing.
* AllowEntity: lifting a suppression twice leaves it lifted (a retry after a lost answer
  reports was_suppressed False).

Not retried: UpsertEntities (a late retry could overwrite attributes another writer set
in between: merge-on-write is not idempotent under concurrency), WatchTierChanges
(a silent reconnect would drop the changes made while disconnected) and PromoteProfile
(a repeat after a promotion whose answer was lost reports "nothing staged").

Each attempt gets the full per-call deadline: the deadline bounds one attempt and the
policy bounds how many attempts there are.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from prioscore.clients.errors import PrioscoreClientError, from_rpc_error

log = logging.getLogger("prioscore.clients")
T = TypeVar("T")

RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry; `attempts=1` disables retries."""

    attempts: int = 4
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.2  # +- fraction, so many clients do not retry in lockstep

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1))
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


NO_RETRY = RetryPolicy(attempts=1)


def is_retryable(error: BaseException) -> bool:
    code = getattr(error, "code", None)
    if isinstance(error, PrioscoreClientError):
        return error.code in RETRYABLE_CODES
    if isinstance(error, grpc.RpcError) and callable(code):
        return code() in RETRYABLE_CODES
    return False


async def with_retries(
    attempt: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    method: str,
) -> T:
    """Runs attempt(n) for n = 0, 1, ... until it succeeds or may not be retried.

    grpc errors are converted to PrioscoreClientError; `attempt` receives the attempt
    number so it can tell a first try from a retry (EraseEntity needs that).
    """
    for number in range(policy.attempts):
        try:
            return await attempt(number)
        except grpc.RpcError as error:
            failure: PrioscoreClientError = from_rpc_error(error, method)
        except PrioscoreClientError as error:
            failure = error
        if not is_retryable(failure) or number + 1 >= policy.attempts:
            raise failure
        delay = policy.backoff(number + 1)
        log.info("%s failed with %s; retry %d in %.2fs", method, failure.code, number + 1, delay)
        await asyncio.sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
