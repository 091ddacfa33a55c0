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
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc
import numpy as np

from prioscore.clients.channel import DEFAULT_TARGET, ChannelConfig
from prioscore.clients.client import DEFAULT_STREAM_TIMEOUT, DEFAULT_TIMEOUT, AsyncPrioscoreClient
from prioscore.clients.models import EraseResult, IngestSummary, MatrixScores, Page
from prioscore.clients.retry import RetryPolicy
from prioscore.clients.sources import Source
from prioscore.v1 import profile_service_pb2 as profiles_pb
from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import types_pb2

T = TypeVar("T")
_DONE = object()


class PrioscoreClient:
    """Blocking client with the same methods as AsyncPrioscoreClient.

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

        async def build() -> AsyncPrioscoreClient:
            channel = channel_factory() if channel_factory else None
            client = AsyncPrioscoreClient(
                target,
                channel=channel or ChannelConfig(target, credentials, tuple(options)).open(),
                token=token,
                metadata=metadata,
                timeout=timeout,
                stream_timeout=stream_timeout,
                retry=retry,
            )
            client._owns_channel = True  # we opened (or were handed) it for this client
            return client

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
        self._run(_drain())
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> PrioscoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- profiles ---------------------------------------------------------------------

    def list_profiles(self) -> list[profiles_pb.ProfileSummary]:
        return self._run(self.aio.list_profiles())

    def get_profile(self, name: str) -> profiles_pb.GetProfileResponse:
        return self._run(self.aio.get_profile(name))

    def validate_profile(
        self, toml: str, filename: str = ""
    ) -> profiles_pb.ValidateProfileResponse:
        return self._run(self.aio.validate_profile(toml, filename))

    def reload_profiles(self) -> profiles_pb.ReloadProfilesResponse:
        return self._run(self.aio.reload_profiles())

    def stage_profile(self, toml: str, filename: str = "") -> profiles_pb.StageProfileResponse:
        return self._run(self.aio.stage_profile(toml, filename))

    def promote_profile(
        self, name: str, shadow_version: int = 0
    ) -> profiles_pb.PromoteProfileResponse:
        return self._run(self.aio.promote_profile(name, shadow_version))

    def delete_shadow_profile(self, name: str) -> profiles_pb.DeleteShadowProfileResponse:
        return self._run(self.aio.delete_shadow_profile(name))

    # -- evaluation -------------------------------------------------------------------

    def backtest(
        self,
        outcomes: Sequence[types_pb2.Outcome],
        *,
        profile: str = "",
        candidate_toml: str = "",
        k: int = 0,
        horizon_days: float = 0.0,
        shadow_profile: str = "",
    ) -> profiles_pb.BacktestResponse:
        return self._run(
            self.aio.backtest(
                outcomes,
                profile=profile,
                candidate_toml=candidate_toml,
                k=k,
                horizon_days=horizon_days,
                shadow_profile=shadow_profile,
            )
        )

    def calibrate(
        self,
        profile: str,
        outcomes: Sequence[types_pb2.Outcome],
        *,
        l2: float = 0.0,
        horizon_days: float = 0.0,
        k: int = 0,
    ) -> profiles_pb.CalibrateResponse:
        return self._run(
            self.aio.calibrate(profile, outcomes, l2=l2, horizon_days=horizon_days, k=k)
        )

    def compare(
        self,
        profile: str,
        *,
        candidate_toml: str = "",
        candidate_profile: str = "",
        candidate_shadow: bool = False,
        k: int = 0,
        page_size: int = 0,
    ) -> profiles_pb.CompareProfilesResponse:
        return self._run(
            self.aio.compare(
                profile,
                candidate_toml=candidate_toml,
                candidate_profile=candidate_profile,
                candidate_shadow=candidate_shadow,
                k=k,
                page_size=page_size,
            )
        )

    # -- scoring ----------------------------------------------------------------------

    def score_entities(
        self, profile: str, entity_ids: Sequence[str], **options: Any
    ) -> list[types_pb2.Score]:
        """See AsyncPrioscoreClient.score_entities (explain, top_reasons, as_of)."""
        return self._run(self.aio.score_entities(profile, entity_ids, **options))

    def score_features(
        self, profile: str, features: np.ndarray, entity_ids: Sequence[str] = (), **options: Any
    ) -> list[types_pb2.Score]:
        """See AsyncPrioscoreClient.score_features (columns, entities, explain, ...)."""
        return self._run(self.aio.score_features(profile, features, entity_ids, **options))

    def score_events(
        self, profile: str, events: Sequence[types_pb2.Event], **options: Any
    ) -> list[types_pb2.Score]:
        return self._run(self.aio.score_events(profile, events, **options))

    def rank_page(self, profile: str, **options: Any) -> Page[types_pb2.Score]:
        return self._run(self.aio.rank_page(profile, **options))

    def rank(self, profile: str, **options: Any) -> Iterator[types_pb2.Score]:
        """Stored scores highest first across pages (limit=None: all of them)."""
        return self._iterate(self.aio.rank(profile, **options))

    def history(
        self, entity_id: str, profile: str, *, limit: int | None = None
    ) -> list[scoring_pb.ScoreHistoryPoint]:
        return self._run(self.aio.history(entity_id, profile, limit=limit))

    def watch(self, **filters: Any) -> Iterator[types_pb2.TierChange]:
        """Tier changes as they happen (profile, tiers, account_id filters); close to stop."""
        return self._iterate(self.aio.watch(**filters), prefetch=64)

    # -- bulk -------------------------------------------------------------------------

    def score_matrix(self, profile: str, features: np.ndarray, **options: Any) -> MatrixScores:
        """Scores every row of a matrix: (scores, tiers, tier_names, disqualified)."""
        return self._run(self.aio.score_matrix(profile, features, **options))

    def iter_scores(
        self, profile: str, chunks: Source[np.ndarray], **options: Any
    ) -> Iterator[MatrixScores]:
        """Scores per chunk, in order; `chunks` is read on a worker thread."""
        window = int(options.get("window", 4))
        return self._iterate(self.aio.iter_scores(profile, chunks, **options), prefetch=window)

    def iter_tagged_scores(
        self, profile: str, items: Source[tuple[T, np.ndarray]], **options: Any
    ) -> Iterator[tuple[T, MatrixScores]]:
        """(tag, scores) per (tag, features) item, in order; items read off the caller."""
        window = int(options.get("window", 4))
        agen = self.aio.iter_tagged_scores(profile, items, **options)
        return self._iterate(agen, prefetch=window)

    # -- events -----------------------------------------------------------------------

    def ingest(self, events: Source[types_pb2.Event], **options: Any) -> IngestSummary:
        """Stores events (batch_size, batches_per_stream, progress callback)."""
        return self._run(self.aio.ingest(events, **options))

    def upsert_entities(self, entities: Sequence[types_pb2.Entity]) -> int:
        return self._run(self.aio.upsert_entities(entities))

    def erase_entity(self, entity_id: str) -> EraseResult:
        return self._run(self.aio.erase_entity(entity_id))


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
