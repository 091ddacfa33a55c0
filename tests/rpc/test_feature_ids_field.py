"""A feature matrix's ids that do not match its rows: the error names the request's field.

ScoreEntities and StreamScores share Service.score_features, but their ids live in
different fields (inline_features.entity_ids, entity_ids); a client correlating the
BadRequest violation with its request needs the one it sent.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from prioscore.server.rpc import convert
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.rpc.conftest import Stubs, field_violations


def _reason(error: grpc.RpcError) -> str:
    """The ErrorInfo reason of a failed call's google.rpc.Status."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status details on the error"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo detail")


def _matrix(rows: int) -> types_pb2.Matrix:
    values = np.random.default_rng(rows).uniform(0, 5, (rows, 2))  # test_leads: 2 signals
    return types_pb2.Matrix(shape=[rows, 2], dtype=types_pb2.DTYPE_FLOAT64, data=values.tobytes())


# 3 rows are scored on the loop; 3,000 (48 KB) in an inline scoring process.
@pytest.mark.parametrize("rows", [3, 3_000])
def test_score_entities_names_inline_features_entity_ids(stubs: Stubs, rows: int) -> None:
    request = sc.ScoreEntitiesRequest(
        profile="test_leads",
        inline_features=sc.InlineFeatures(
            features=_matrix(rows), entity_ids=[f"e{i}" for i in range(rows + 1)]
        ),
    )
    assert (request.ByteSize() > convert.PROCESS_BYTES) == (rows > 3)  # both paths taken
    with pytest.raises(grpc.RpcError) as caught:
        stubs.scoring.ScoreEntities(request, timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(caught.value)
    assert list(violations) == ["inline_features.entity_ids"]
    assert violations["inline_features.entity_ids"] == f"{rows + 1} ids for {rows} feature rows"
    assert _reason(caught.value) == "FIELD_INVALID"


def test_stream_scores_names_entity_ids(stubs: Stubs) -> None:
    good = sc.StreamScoresRequest(profile="test_leads", sequence=0, features=_matrix(2))
    bad = sc.StreamScoresRequest(
        profile="test_leads", sequence=1, features=_matrix(3), entity_ids=["a", "b"]
    )
    answered: list[int] = []
    with pytest.raises(grpc.RpcError) as caught:
        for response in stubs.scoring.StreamScores(iter([good, bad]), timeout=60):
            answered.append(response.sequence)
    assert answered == [0]  # the batch before the bad one was answered
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == {"entity_ids": "2 ids for 3 feature rows"}
    assert _reason(caught.value) == "FIELD_INVALID"
