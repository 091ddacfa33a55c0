"""The bulk half of AsyncPrioscoreClient: feature matrices through StreamScores.

A base class of the client (kept apart so each module stays small): it only needs the
client's StreamScores multicallable, stream deadline, metadata and retry policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, TypeVar

import grpc
import numpy as np

from prioscore.clients import bulk
from prioscore.clients.channel import Metadata
from prioscore.clients.models import MatrixScores
from prioscore.clients.retry import RetryPolicy
from prioscore.clients.sources import Source, aiter_source

T = TypeVar("T")


class BulkScoring:
    """score_matrix / iter_scores / iter_tagged_scores over the pipelined stream."""

    _stream_scores: Any  # grpc.aio StreamStreamMultiCallable taking pre-encoded bytes
    _metadata: Metadata
    stream_timeout: float
    retry: RetryPolicy

    def _open_stream_scores(self, requests: AsyncIterator[bytes]) -> grpc.aio.StreamStreamCall:
        """StreamScores taking pre-encoded requests (arrays.encode_stream_request).

        The same method path and response class as the generated stub; only the request
        serializer is the identity, because the bulk requests arrive already encoded.
        """
        return self._stream_scores(requests, timeout=self.stream_timeout, metadata=self._metadata)

    def iter_tagged_scores(
        self,
        profile: str,
        items: Source[tuple[T, np.ndarray]],
        *,
        window: int = 4,
        batches_per_stream: int = 200,
        columns: Sequence[str] = (),
    ) -> AsyncIterator[tuple[T, MatrixScores]]:
        """Streams (tag, features) chunks, yielding (tag, scores) in the same order.

        The tag rides along untouched (ids, a row offset): results never need to be
        matched back by the caller. Sync sources are read on a worker thread.
        """
        return bulk.stream_scores(
            self._open_stream_scores,
            profile,
            aiter_source(items),
            window=window,
            batches_per_stream=batches_per_stream,
            policy=self.retry,
            columns=columns,
        )

    async def iter_scores(
        self,
        profile: str,
        chunks: Source[np.ndarray],
        *,
        window: int = 4,
        columns: Sequence[str] = (),
    ) -> AsyncIterator[MatrixScores]:
        """Scores of each feature chunk in order: the variant for data bigger than RAM."""
        tagged = ((None, chunk) async for chunk in aiter_source(chunks))
        async for _, result in self.iter_tagged_scores(
            profile, tagged, window=window, columns=columns
        ):
            yield result

    async def score_matrix(
        self,
        profile: str,
        features: np.ndarray,
        *,
        chunk_rows: int = 10_000,
        window: int = 4,
        columns: Sequence[str] = (),
    ) -> MatrixScores:
        """Scores every row of an in-memory matrix: (scores, tiers, tier_names, dq)."""
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be >= 1")
        array = np.asarray(features)
        starts = range(0, array.shape[0], chunk_rows)
        chunks = ((None, array[s : s + chunk_rows]) for s in starts)  # views, no copies
        parts = [
            result
            async for _, result in self.iter_tagged_scores(
                profile, _async_of(chunks), window=window, columns=columns
            )
        ]
        return MatrixScores.concatenate(parts)


async def _async_of(items: Iterable[T]) -> AsyncIterator[T]:
    """In-memory items (cheap numpy views) need no worker thread."""
    for item in items:
        yield item
