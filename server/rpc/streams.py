"""Client streams: every stream a servicer reads is bounded by one limit, checked here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from prioscore.server.errors import ResourceExhaustedError

Message = TypeVar("Message")


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


__all__ = ["bounded"]
