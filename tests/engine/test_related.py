"""engine.related: score signals fold related scores; members are ranked per owner.

Every aggregate is checked against a by-hand Python fold over the same rows, including
min_score, disqualified members, missing values and owners without any member.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prioscore.server.engine.model import (
    RELATED_AGGREGATES,
    SCORE_ONLY_AGGREGATES,
    Aggregate,
    Relation,
    Signal,
)
from prioscore.server.engine.related import (
    RelatedScores,
    member_event_points,
    member_score_points,
    related_feature,
    top_members,
)

from .factory import profile


def score_signal(aggregate: str, **kw: object) -> Signal:
    of = Relation.ACCOUNT if aggregate == "score" else Relation.MEMBERS
    fields: dict[str, object] = dict(
        name="s", event="", aggregate=Aggregate(aggregate), weight=1.0, scores="p", of=of
    )
    fields.update(kw)
    return Signal(**fields)  # type: ignore[arg-type]


# Owner 0: three members (one disqualified); owner 1: one member; owner 2: none.
OWNER = np.array([0, 0, 0, 1])
SCORE = np.array([80.0, 30.0, 95.0, 50.0])
ELIGIBLE = np.array([True, True, False, True])
ROLE = np.array([0, 1, 0, -1], dtype=np.int32)
RELATED = RelatedScores(OWNER, SCORE, ELIGIBLE, ROLE)


@pytest.mark.parametrize(
    ("aggregate", "kw", "expected"),
    [
        ("count", {}, [2, 1, -7]),
        ("count", {"min_score": 40}, [1, 1, -7]),
        ("sum", {}, [110, 50, -7]),
        ("mean", {}, [55, 50, -7]),
        ("max", {}, [80, 50, -7]),  # the disqualified 95 does not count
        ("distinct", {"by": "role"}, [2, 0, -7]),  # owner 1's member has no role
        ("distinct", {"by": "role", "min_score": 40}, [1, 0, -7]),
    ],
)
def test_member_aggregates_by_hand(aggregate: str, kw: dict, expected: list[float]) -> None:
    signal = score_signal(aggregate, missing=-7.0, **kw)
    np.testing.assert_allclose(related_feature(signal, RELATED, 3), expected)


def test_account_score_is_the_one_related_score() -> None:
    related = RelatedScores(np.array([1]), np.array([64.0]), np.array([True]))
    np.testing.assert_allclose(
        related_feature(score_signal("score", missing=0.0), related, 3), [0, 64, 0]
    )


def test_every_score_only_aggregate_is_allowed_somewhere() -> None:
    allowed = set().union(*RELATED_AGGREGATES.values())
    assert allowed >= SCORE_ONLY_AGGREGATES


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.floats(0, 100), st.booleans(), st.integers(-1, 3)),
        max_size=40,
    ),
    st.sampled_from(["count", "sum", "mean", "max", "distinct"]),
    st.floats(0, 100),
)
def test_matches_a_python_fold(rows: list, aggregate: str, min_score: float) -> None:
    n = 5
    owner = np.array([r[0] for r in rows], dtype=np.int64)
    related = RelatedScores(
        owner,
        np.array([r[1] for r in rows], dtype=float),
        np.array([r[2] for r in rows], dtype=bool),
        np.array([r[3] for r in rows], dtype=np.int32),
    )
    kw = {"by": "role"} if aggregate == "distinct" else {}
    signal = score_signal(aggregate, min_score=min_score, missing=-1.0, **kw)
    got = related_feature(signal, related, n)
    for entity in range(n):
        mine = [r for r in rows if r[0] == entity and r[2] and r[1] >= min_score]
        if not mine:
            assert got[entity] == -1.0
            continue
        scores = [r[1] for r in mine]
        expected = {
            "count": len(mine),
            "sum": sum(scores),
            "mean": sum(scores) / len(mine),
            "max": max(scores),
            "distinct": len({r[3] for r in mine if r[3] >= 0}),
        }[aggregate]
        assert got[entity] == pytest.approx(expected)


def test_member_shares_follow_the_aggregate() -> None:
    sum_share = member_score_points(score_signal("sum", weight=0.5), RELATED)
    np.testing.assert_allclose(sum_share, [40, 15, 0, 25])  # disqualified member: 0
    max_share = member_score_points(score_signal("max"), RELATED)
    np.testing.assert_allclose(max_share, [80, 0, 0, 50])
    count_share = member_score_points(score_signal("count", weight=8, min_score=40), RELATED)
    np.testing.assert_allclose(count_share, [8, 0, 0, 8])
    distinct = member_score_points(score_signal("distinct", by="role", weight=6), RELATED)
    np.testing.assert_allclose(distinct, [6, 6, 0, 0])  # role 0 held by one eligible member


def test_top_members_ranks_within_each_owner() -> None:
    owner = np.array([1, 0, 1, 1, 0, 2])
    points = np.array([5.0, 1.0, 9.0, 7.0, -3.0, 0.0])
    top = top_members(owner, points, 4, 2)
    # owner 0: only one positive; owner 1: 9 then 7; owner 2: zero points are no reason.
    assert top.tolist() == [[1, -1], [2, 3], [-1, -1], [-1, -1]]


def test_member_event_points_subtract_the_quiet_baseline() -> None:
    p = profile(
        [
            Signal("visits", "page_view", Aggregate.COUNT, weight=2, cap=10),
            Signal("quiet", "page_view", Aggregate.DAYS_SINCE_LAST, weight=-1, cap=20, missing=30),
            score_signal("sum", name="leads"),
        ]
    )
    matrix = np.array([[3.0, 1.0, 0.0], [0.0, 30.0, 0.0], [20.0, 0.0, 0.0]])
    # member 0: 6 visit points, 19 fewer penalty points than a quiet member; member 1 is
    # quiet (0); member 2: visits capped at 10, +20 for recency (capped penalty -20 -> 0).
    np.testing.assert_allclose(member_event_points(p, matrix), [25, 0, 30])
