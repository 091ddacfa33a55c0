"""Contributors (scoring/relations.py) name the same members with the same points when
their ids are factorised a block of owners at a time as when np.unique factorised all of
them at once: ties between members of one account break by id either way."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine import GIL_SLICE, RelatedScores
from prioscore.server.profiles import ProfileRegistry, bundled
from prioscore.server.scoring import relations
from prioscore.server.scoring.relations import RelatedInputs, contributors
from prioscore.server.store import RelatedRows


def _rows(rng: np.random.Generator, owners: int, ids: np.ndarray) -> RelatedRows:
    """Member scores of `owners` accounts: each account's members drawn from `ids`, coarse
    scores so that many members of one account tie."""
    owner = np.sort(rng.integers(0, owners, len(ids)))
    score = np.round(rng.random(len(ids)) * 4) * 20.0
    eligible = rng.random(len(ids)) > 0.1
    by = {"seniority": rng.integers(-1, 3, len(ids)).astype(np.int32)}
    return RelatedRows.from_columns(ids, RelatedScores(owner, score, eligible), by)


def test_contributors_match_those_of_one_factorisation(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = ProfileRegistry.from_directory(bundled.DIRECTORY).get("account_engagement")
    assert profile is not None
    rng = np.random.default_rng(7)
    owners, n = 900, GIL_SLICE * 3 + 17  # several blocks, an owner's rows on both sides of one
    names = np.array([f"c{i:05d}" for i in rng.permutation(n)], dtype=object)
    # Each signal reads its own rows here (a member found by several is summed alike).
    scores = {
        j: _rows(rng, owners, names[rng.permutation(n)])
        for j, s in enumerate(profile.signals)
        if s.reads_scores
    }
    inputs = RelatedInputs(None, scores)
    only = np.sort(rng.choice(owners, owners // 2, replace=False))
    got = [contributors(profile, owners, inputs, 0.0, 3, rows) for rows in (None, only)]

    def at_once(ids: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vocabulary, member = np.unique(ids.astype(str), return_inverse=True)
        return vocabulary.astype(object), member

    monkeypatch.setattr(relations, "_factorise_ids", at_once)
    expected = [contributors(profile, owners, inputs, 0.0, 3, rows) for rows in (None, only)]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine is not None and theirs is not None
        np.testing.assert_array_equal(mine.entity_ids, theirs.entity_ids)
        np.testing.assert_array_equal(mine.points, theirs.points)
        ties = (mine.points[:, 0] == mine.points[:, 1]) & (mine.points[:, 1] > 0)
        assert ties.sum() > 20  # ties the order decides


def test_factorised_ids_read_back_and_keep_each_owners_order() -> None:
    rng = np.random.default_rng(2)
    n = GIL_SLICE * 2 + 100
    ids = np.array([f"m{i}" for i in rng.integers(0, n // 3, n)], dtype=object)
    owner = rng.integers(0, 300, n)
    vocabulary, member = relations._factorise_ids(ids, owner)
    assert vocabulary[member].tolist() == ids.tolist()
    order = np.lexsort((member, owner))
    same_owner = owner[order][1:] == owner[order][:-1]
    pairs = list(zip(ids[order][:-1][same_owner], ids[order][1:][same_owner], strict=True))
    assert all(a <= b for a, b in pairs) and any(a == b for a, b in pairs)
