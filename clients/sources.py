"""Adapting caller-supplied iterables to the client's event loop without blocking it.

A sync iterator (a file reader, a generator parsing CSV) may take milliseconds per item.
Calling `next()` on the loop thread would stall gRPC I/O for every stream in flight, so
sync sources are advanced on a worker thread; async sources are used as they are.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
Source = Iterable[T] | AsyncIterable[T]

_END = object()


async def aiter_source(source: Source[T]) -> AsyncIterator[T]:
    """Yields the items of a sync or async iterable; sync ones advance off-loop."""
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
        return
    iterator = iter(source)
    loop = asyncio.get_running_loop()
    while True:
        found = await loop.run_in_executor(None, _next, iterator)
        if found is _END:
            return
        yield found  # type: ignore[misc]


async def abatches(source: Source[T], size: int) -> AsyncIterator[list[T]]:
    """Groups a source into lists of `size` (the last may be shorter), off-loop for sync."""
    if size < 1:
        raise ValueError("batch size must be >= 1")
    if isinstance(source, AsyncIterable):
        batch: list[T] = []
        async for item in source:
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    iterator = iter(source)
    loop = asyncio.get_running_loop()
    while True:
        batch = await loop.run_in_executor(None, _take, iterator, size)
        if not batch:
            return
        yield batch


def _next(iterator: Iterator[object]) -> object:
    return next(iterator, _END)


def _take(iterator: Iterable[T], size: int) -> list[T]:
    return list(itertools.islice(iterator, size))
