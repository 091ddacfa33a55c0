"""PrioscoreClient: the blocking client, a thin wrapper running the async core on a thread.

Why a wrapper rather than a second implementation over grpc's sync channels: deadlines,
retries, error decoding, stream rotation and the pipelined StreamScores window then
exist once, and sync and async callers get identical behaviour. The private event loop
lives on its own daemon thread, so the wrapper also works where a loop is already
running (Jupyter, an async app calling sync library code), where `asyncio.run` fails.
The cost is one thread hop per call, tens of microseconds against a ~0.5 ms RPC.

Iterators (rank, watch, bulk scores) are pumped on the loop into a small bounded queue,
so the network keeps streaming while the caller processes the previous item (writing
an output file, say) — the pipeline does not stall between `next()` calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any, TypeVar

import grpc
import numpy as np

from prioscore.clients.channel import DEFAULT_TARGET
from prioscore.clients.client import DEFAULT_STREAM_TIMEOUT, DEFAULT_TIMEOUT, AsyncPrioscoreClient
from prioscore.clients.ingesting import Progress
from prioscore.clients.models import EraseResult, IngestSummary, MatrixScores, Page
from prioscore.clients.retry import RetryPolicy
from prioscore.clients.sources import Source
from prioscore.clients.sync_profiles import SyncProfileCalls
from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import types_pb2

T = TypeVar("T")
_DONE = object()


class PrioscoreClient(SyncProfileCalls):
    """Blocking client with the same methods as AsyncPrioscoreClient.

    Each method spells out its async twin's parameters (documented there) instead of
    forwarding **options, so type checkers and editors see them; a test keeps the two
    signatures identical.

    `channel_factory` is the injectable channel: a callable returning a grpc.aio.Channel,
    called on the client's loop thread (an aio channel belongs to the loop it was made
    on, so an existing one cannot be handed over from another loop).
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        channel_factory: Callable[[], grpc.aio.Channel] | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout: float = DEFAULT_TIMEOUT,
        stream_timeout: float = DEFAULT_STREAM_TIMEOUT,
        retry: RetryPolicy | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="prioscore-client", daemon=True
        )
        self._thread.start()
        self._closed = False
        self._channel: grpc.aio.Channel | None = None

        async def build() -> AsyncPrioscoreClient:
            # A handed-in channel is not the async client's to close, so this wrapper
            # closes it; without a factory the async client opens and owns its own.
            self._channel = channel_factory() if channel_factory else None
            return AsyncPrioscoreClient(
                target,
                channel=self._channel,
                credentials=credentials,
                token=token,
                metadata=metadata,
                timeout=timeout,
                stream_timeout=stream_timeout,
                retry=retry,
                options=options,
            )

        self.aio = self._run(build())

    # -- plumbing ---------------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coroutine.close()
            raise RuntimeError("client is closed")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in the caller: do not leave the call running
            raise

    def _iterate(self, agen: AsyncIterator[T], prefetch: int = 4) -> Iterator[T]:
        """A sync iterator over an async one, pumped ahead by up to `prefetch` items."""
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(1, prefetch))

        async def pump() -> None:
            try:
                async for item in agen:
                    await queue.put((item, None))
                await queue.put((_DONE, None))
            except asyncio.CancelledError:  # the consumer stopped: nobody is listening
                raise
            except Exception as error:  # handed to the consumer, re-raised there
                await queue.put((_DONE, error))
            finally:
                aclose = getattr(agen, "aclose", None)
                if aclose is not None:
                    await aclose()

        task = self._run(_start(pump()))
        try:
            while True:
                item, error = self._run(queue.get())
                if error is not None:
                    raise error
                if item is _DONE:
                    return
                yield item
        finally:
            if not task.done():
                self._loop.call_soon_threadsafe(task.cancel)

    def close(self) -> None:
        """Closes the channel and stops the loop thread; idempotent."""
        if self._closed:
            return
        self._run(self.aio.close())
        if self._channel is not None:
            self._run(self._channel.close(None))
        self._run(_drain())
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> PrioscoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scoring ----------------------------------------------------------------------

    def score_entities(
        self,
        profile: str,
        entity_ids: Sequence[str],
        *,
        explain: bool = False,
        top_reasons: int = 0,
        as_of: datetime | float | None = None,
    ) -> list[types_pb2.Score]:
        return self._run(
            self.aio.score_entities(
                profile, entity_ids, explain=explain, top_reasons=top_reasons, as_of=as_of
            )
        )

    def score_features(
        self,
        profile: str,
        features: np.ndarray,
        entity_ids: Sequence[str] = (),
        *,
        columns: Sequence[str] = (),
        entities: Sequence[types_pb2.Entity] = (),
        explain: bool = False,
        top_reasons: int = 0,
    ) -> list[types_pb2.Score]:
        return self._run(
            self.aio.score_features(
                profile,
                features,
                entity_ids,
                columns=columns,
                entities=entities,
                explain=explain,
                top_reasons=top_reasons,
            )
        )

    def score_events(
        self,
        profile: str,
        events: Iterable[types_pb2.Event],
        entities: Sequence[types_pb2.Entity] = (),
        *,
        explain: bool = False,
        top_reasons: int = 0,
        as_of: datetime | float | None = None,
    ) -> list[types_pb2.Score]:
        return self._run(
            self.aio.score_events(
                profile, events, entities, explain=explain, top_reasons=top_reasons, as_of=as_of
            )
        )

    def rank_page(
        self,
        profile: str,
        *,
        page_size: int = 50,
        page_token: str = "",
        tiers: Sequence[str] = (),
        account_id: str = "",
        min_score: float | None = None,
        include_disqualified: bool = False,
        top_reasons: int = 3,
    ) -> Page[types_pb2.Score]:
        return self._run(
            self.aio.rank_page(
                profile,
                page_size=page_size,
                page_token=page_token,
                tiers=tiers,
                account_id=account_id,
                min_score=min_score,
                include_disqualified=include_disqualified,
                top_reasons=top_reasons,
            )
        )

    def rank(
        self,
        profile: str,
        *,
        limit: int | None = None,
        page_size: int = 200,
        tiers: Sequence[str] = (),
        account_id: str = "",
        min_score: float | None = None,
        include_disqualified: bool = False,
        top_reasons: int = 3,
    ) -> Iterator[types_pb2.Score]:
        return self._iterate(
            self.aio.rank(
                profile,
                limit=limit,
                page_size=page_size,
                tiers=tiers,
                account_id=account_id,
                min_score=min_score,
                include_disqualified=include_disqualified,
                top_reasons=top_reasons,
            )
        )

    def history_page(
        self, entity_id: str, profile: str, *, page_size: int = 100, page_token: str = ""
    ) -> Page[scoring_pb.ScoreHistoryPoint]:
        return self._run(
            self.aio.history_page(entity_id, profile, page_size=page_size, page_token=page_token)
        )

    def history(
        self, entity_id: str, profile: str, *, limit: int | None = None
    ) -> list[scoring_pb.ScoreHistoryPoint]:
        return self._run(self.aio.history(entity_id, profile, limit=limit))

    def watch(
        self,
        *,
        profile: str = "",
        tiers: Sequence[str] = (),
        account_id: str = "",
        duration: float | None = None,
        after_change_id: int | None = None,
    ) -> Iterator[types_pb2.TierChange]:
        """Close the iterator (or stop iterating) to end the watch."""
        agen = self.aio.watch(
            profile=profile,
            tiers=tiers,
            account_id=account_id,
            duration=duration,
            after_change_id=after_change_id,
        )
        return self._iterate(agen, prefetch=64)

    # -- bulk -------------------------------------------------------------------------

    def score_matrix(
        self,
        profile: str,
        features: np.ndarray,
        *,
        chunk_rows: int = 10_000,
        window: int = 4,
        columns: Sequence[str] = (),
    ) -> MatrixScores:
        return self._run(
            self.aio.score_matrix(
                profile, features, chunk_rows=chunk_rows, window=window, columns=columns
            )
        )

    def iter_scores(
        self,
        profile: str,
        chunks: Source[np.ndarray],
        *,
        window: int = 4,
        columns: Sequence[str] = (),
    ) -> Iterator[MatrixScores]:
        """`chunks` is read on a worker thread; `window` answers are prefetched."""
        agen = self.aio.iter_scores(profile, chunks, window=window, columns=columns)
        return self._iterate(agen, prefetch=window)

    def iter_tagged_scores(
        self,
        profile: str,
        items: Source[tuple[T, np.ndarray]],
        *,
        window: int = 4,
        batches_per_stream: int = 200,
        columns: Sequence[str] = (),
    ) -> Iterator[tuple[T, MatrixScores]]:
        """`items` is read on a worker thread; `window` answers are prefetched."""
        agen = self.aio.iter_tagged_scores(
            profile, items, window=window, batches_per_stream=batches_per_stream, columns=columns
        )
        return self._iterate(agen, prefetch=window)

    # -- events -----------------------------------------------------------------------

    def ingest(
        self,
        events: Source[types_pb2.Event],
        *,
        batch_size: int = 2_000,
        batches_per_stream: int = 25,
        progress: Progress | None = None,
        backfill: bool = False,
    ) -> IngestSummary:
        return self._run(
            self.aio.ingest(
                events,
                batch_size=batch_size,
                batches_per_stream=batches_per_stream,
                progress=progress,
                backfill=backfill,
            )
        )

    def upsert_entities(self, entities: Sequence[types_pb2.Entity]) -> int:
        return self._run(self.aio.upsert_entities(entities))

    def get_entity(
        self, entity_id: str, *, include_scores: bool = False, top_reasons: int = 3
    ) -> scoring_pb.GetEntityResponse:
        return self._run(
            self.aio.get_entity(entity_id, include_scores=include_scores, top_reasons=top_reasons)
        )

    def erase_entity(self, entity_id: str) -> EraseResult:
        return self._run(self.aio.erase_entity(entity_id))

    def allow_entity(self, entity_id: str) -> bool:
        return self._run(self.aio.allow_entity(entity_id))


async def _start(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(coroutine)


async def _drain() -> None:
    """Cancels what is still running (abandoned iterators, request feeds) before the loop
    stops, so nothing is left half-finished on a closed loop."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()
