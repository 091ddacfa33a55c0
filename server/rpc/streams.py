"""Client streams: every stream a servicer reads is bounded by one limit, checked here;
ingest streams keep a few of their batches queued for the writer (InFlight)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from prioscore.server.errors import ResourceExhaustedError

Message = TypeVar("Message")
Result = TypeVar("Result")

# Batches of one ingest stream queued for the writer at once: enough to form groups when
# the writer falls behind (handlers.ingest_queue), few enough that a failed batch leaves
# little queued behind it.
IN_FLIGHT = 4


async def bounded(
    requests: AsyncIterator[Message], max_messages: int
) -> AsyncIterator[tuple[int, Message]]:
    """The stream's messages with their index; RESOURCE_EXHAUSTED (STREAM_TOO_LONG) on
    the first message past `max_messages` (Settings.max_stream_messages), before it is
    read into anything, so what came before it stays done."""
    index = 0
    async for request in requests:
        if index >= max_messages:
            raise ResourceExhaustedError(
                f"stream exceeds {max_messages} messages", reason="STREAM_TOO_LONG"
            )
        yield index, request
        index += 1


class InFlight(Generic[Result]):
    """A stream's results still to come, oldest first, at most `depth` of them: each is
    settled (awaited, then handed to `settle`) in the order it was added."""

    def __init__(self, settle: Callable[[Result], Awaitable[None]], depth: int = IN_FLIGHT) -> None:
        self._settle = settle
        self._depth = depth
        self._pending: deque[asyncio.Future[Result]] = deque()

    async def add(self, result: asyncio.Future[Result]) -> None:
        """Queues `result`, first settling the oldest ones while `depth` are pending."""
        while len(self._pending) >= self._depth:
            await self._settle(await self._pending.popleft())
        self._pending.append(result)

    def waiting(self) -> int:
        """How many of the pending results are still to come (not done yet)."""
        return sum(not result.done() for result in self._pending)

    async def finish(self) -> None:
        """Settles every pending result in order, each awaited even after one failed (so
        none is left unretrieved); raises the first failure: what the client hears."""
        failure: BaseException | None = None
        while self._pending:
            try:
                await self._settle(await self._pending.popleft())
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure


__all__ = ["IN_FLIGHT", "InFlight", "bounded"]
