"""scores_to_proto: an explained Score carries every column's contribution (signals and
fit rules, with the attribute's text), in column order, and its top reasons."""

from __future__ import annotations

import numpy as np

from prioscore.server.engine import CategoricalColumn, FeatureSet, score
from prioscore.server.profiles import ProfileRegistry, bundled
from prioscore.server.rpc.convert import scores_to_proto
from prioscore.server.scoring import Scored
from prioscore.v1 import scoring_service_pb2, types_pb2

FIT = types_pb2.CONTRIBUTION_KIND_FIT
SIGNAL = types_pb2.CONTRIBUTION_KIND_SIGNAL


def test_explained_scores_name_every_signal_and_fit_column() -> None:
    profile = ProfileRegistry.from_directory(bundled.DIRECTORY).get("lead_qualification")
    assert profile is not None
    n = len(profile.signals)
    matrix = np.asfortranarray(np.random.default_rng(2).uniform(0, 5, size=(2, n)))
    attributes = {
        "seniority": CategoricalColumn(np.array([1, -1], dtype=np.int32), ("manager", "vp")),
        "employees": np.array([300.0, np.nan]),
    }
    features = FeatureSet(matrix, np.full(2, -1, dtype=np.int32))
    result = score(profile, features, attributes, explain=True, top_reasons=3)
    scored = Scored(profile, ["a", "b"], result, matrix, attributes=attributes)
    response = scoring_service_pb2.ScoreEntitiesResponse()
    scores_to_proto(scored, 1e9, True, response.scores)
    first, second = response.scores
    assert result.contributions is not None
    for row, message in enumerate((first, second)):
        got = [(c.name, c.kind, c.feature, c.points, c.value) for c in message.contributions]
        assert [g[0] for g in got] == [
            *profile.signal_names,
            *(rule.attribute for rule in profile.fit),
        ]
        assert [g[1] for g in got] == [SIGNAL] * n + [FIT] * len(profile.fit)
        assert [g[2] for g in got[:n]] == matrix[row].tolist()
        assert [g[3] for g in got] == result.contributions[row].tolist()
        assert all(g[4] == "" for g in got[:n])
        assert len(message.top_reasons) == 3
    fit = {c.name: (c.value, c.points) for c in first.contributions if c.kind == FIT}
    assert fit["seniority"] == ("vp", 16.0) and fit["employees"] == ("300", 15.0)
    assert fit["industry"] == ("", 0.0)  # not sent: no points, no text
    assert {c.name: c.value for c in second.contributions if c.kind == FIT}["seniority"] == ""
    fit_names = {rule.attribute for rule in profile.fit}
    for reason in first.top_reasons:  # named as contributions are, "fit:" prefix dropped
        assert reason.kind == (FIT if reason.name in fit_names else SIGNAL)
        assert reason.name in set(profile.signal_names) | fit_names


def test_each_score_carries_its_rows_numbers_tier_and_disqualification() -> None:
    """Without explanations: one Score per id, in order, each field its row's value (a
    disqualified row has no tier name), all stamped with the response's time."""
    profile = ProfileRegistry.from_directory(bundled.DIRECTORY).get("lead_qualification")
    assert profile is not None
    n = len(profile.signals)
    matrix = np.asfortranarray(np.random.default_rng(5).uniform(0, 5, size=(3, n)))
    relationship = CategoricalColumn(np.array([-1, 0, -1], dtype=np.int32), ("competitor",))
    features = FeatureSet(matrix, np.full(3, -1, dtype=np.int32))
    attributes = {"relationship": relationship}
    result = score(profile, features, attributes)
    scored = Scored(profile, ["a", "b", "c"], result, matrix, attributes=attributes)
    response = scoring_service_pb2.ScoreEntitiesResponse()
    scores_to_proto(scored, 1e9 + 0.25, False, response.scores)
    assert [s.entity_id for s in response.scores] == ["a", "b", "c"]
    assert result.disqualified.tolist() == [False, True, False]
    for row, message in enumerate(response.scores):
        assert (message.score, message.engagement, message.fit) == (
            result.score[row],
            result.engagement[row],
            result.fit[row],
        )
        tier = int(result.tier[row])
        assert message.tier == (profile.tiers.names[tier] if tier >= 0 else "")
        assert message.disqualified == bool(result.disqualified[row])
        assert message.disqualify_reason == result.disqualify_reason[row]
        assert (message.profile, message.profile_version) == (profile.name, profile.version)
        assert (message.update_time.seconds, message.update_time.nanos) == (1e9, 250_000_000)
        assert not message.contributions and not message.top_reasons
    assert response.scores[1].disqualify_reason.startswith("Not a prospect")
    assert response.scores[1].tier == ""
