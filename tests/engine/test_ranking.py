"""top_k paging: descending score, ties by ascending index, offsets, eligibility."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine.ranking import top_k

S = np.array([5.0, 9.0, 5.0, 1.0, 9.0, 5.0, 7.0])
ORDER = [1, 4, 6, 0, 2, 5, 3]  # ties (9, 9) and (5, 5, 5) by ascending index


def test_top_k_orders_by_score_then_index():
    assert top_k(S, 3).tolist() == ORDER[:3]
    assert top_k(S, 7).tolist() == ORDER
    assert top_k(S, 100).tolist() == ORDER
    assert top_k(S, 0).tolist() == []
    assert top_k(S, 3).dtype == np.int64


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("offset", range(9))
def test_pages_tile_the_full_order(k, offset):
    assert top_k(S, k, offset=offset).tolist() == ORDER[offset : offset + k]


def test_tie_at_the_page_boundary_is_split_by_index():
    assert top_k(S, 4).tolist() == [1, 4, 6, 0]
    assert top_k(S, 2, offset=4).tolist() == [2, 5]


def test_eligible_restricts_and_renumbers_ranks():
    eligible = np.array([True, False, True, True, True, True, False])
    assert top_k(S, 3, eligible=eligible).tolist() == [4, 0, 2]
    assert top_k(S, 3, eligible=eligible, offset=3).tolist() == [5, 3]
    assert top_k(S, 3, eligible=np.zeros(7, bool)).tolist() == []


def test_nan_scores_rank_last():
    s = np.array([np.nan, 1.0, 2.0])
    assert top_k(s, 3).tolist() == [2, 1, 0]


def test_negative_arguments_are_rejected():
    with pytest.raises(ValueError):
        top_k(S, -1)
    with pytest.raises(ValueError):
        top_k(S, 1, offset=-1)


def test_matches_a_full_stable_sort_on_random_ties():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 50, 20_000).astype(np.float64)
    full = np.argsort(-s, kind="stable")
    for offset in (0, 13, 999, 19_990):
        np.testing.assert_array_equal(top_k(s, 100, offset=offset), full[offset : offset + 100])
