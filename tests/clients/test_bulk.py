"""score_matrix / iter_scores over the real StreamScores RPC."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from prioscore.clients import AsyncPrioscoreClient, InvalidArgumentError, PrioscoreClient
from tests.conftest import ServerHandle

PROFILE = "lead_qualification"


def features(client: PrioscoreClient, rows: int, seed: int = 0) -> np.ndarray:
    n = len(client.get_profile(PROFILE).signals)
    return np.random.default_rng(seed).gamma(1.5, 2.0, size=(rows, n))


def test_score_matrix_equals_unary_scoring(client: PrioscoreClient) -> None:
    x = features(client, 2_345)
    scores, tiers, tier_names, disqualified = client.score_matrix(PROFILE, x, chunk_rows=500)
    assert scores.shape == (2_345,) and tiers.dtype == np.int32 and disqualified.dtype == bool
    assert tier_names == ("cold", "warm", "hot")
    unary = client.score_features(PROFILE, x[:300], [f"r{i}" for i in range(300)])
    np.testing.assert_allclose(scores[:300], [s.score for s in unary])
    assert [tier_names[t] for t in tiers[:300]] == [s.tier for s in unary]


def test_float32_and_named_columns(client: PrioscoreClient) -> None:
    x = features(client, 1_000, seed=1)
    reference = client.score_matrix(PROFILE, x)
    as_f32 = client.score_matrix(PROFILE, x.astype(np.float32))
    np.testing.assert_allclose(as_f32.scores, reference.scores, rtol=1e-5, atol=1e-4)
    names = list(client.get_profile(PROFILE).profile.signal_names)
    order = np.random.default_rng(2).permutation(len(names))
    shuffled = client.score_matrix(PROFILE, x[:, order], columns=[names[i] for i in order])
    np.testing.assert_allclose(shuffled.scores, reference.scores)


def test_iter_scores_streams_a_generator_in_order(client: PrioscoreClient) -> None:
    x = features(client, 5_000, seed=3)
    sizes = [0, 700, 1, 0, 2_000, 2_299, 0]

    def chunks() -> Iterator[np.ndarray]:
        start = 0
        for size in sizes:
            yield x[start : start + size]
            start += size

    parts = list(client.iter_scores(PROFILE, chunks(), window=3))
    assert [p.rows for p in parts] == sizes
    joined = np.concatenate([p.scores for p in parts])
    np.testing.assert_allclose(joined, client.score_matrix(PROFILE, x).scores)


def test_streams_rotate_without_losing_rows(grpc_server: ServerHandle) -> None:
    async def run() -> tuple[np.ndarray, np.ndarray]:
        async with AsyncPrioscoreClient(grpc_server.target, timeout=20) as api:
            n = len((await api.get_profile(PROFILE)).signals)
            x = np.random.default_rng(4).random((1_000, n))
            chunks = ((i, x[i : i + 64]) for i in range(0, 1_000, 64))
            got = [
                (tag, result.scores)
                async for tag, result in api.iter_tagged_scores(
                    PROFILE, _async(chunks), window=2, batches_per_stream=3
                )
            ]
            assert [tag for tag, _ in got] == list(range(0, 1_000, 64))
            whole = await api.score_matrix(PROFILE, x)
            return np.concatenate([s for _, s in got]), whole.scores

    rotated, whole = asyncio.run(run())
    np.testing.assert_allclose(rotated, whole)


async def _async(items: Iterator[tuple[int, np.ndarray]]):  # type: ignore[no-untyped-def]
    for item in items:
        yield item


def test_a_bad_batch_surfaces_the_servers_field(client: PrioscoreClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.score_matrix(PROFILE, np.ones((10, 2)))
    assert "messages[0].features.shape" in [v.field for v in caught.value.violations]
    x = features(client, 10)
    x[7, 2] = np.nan
    with pytest.raises(InvalidArgumentError) as nan:
        client.score_matrix(PROFILE, x)
    assert any("features" in v.field for v in nan.value.violations)
