"""A feature matrix that breaks a rule: the error names the field of the request sent.

ScoreEntities and StreamScores share Service.score_features, but their matrix and ids
live in different fields (inline_features.features and inline_features.entity_ids;
a stream message's features and entity_ids, named messages[i].* as the interceptor
names its contract violations); a client correlating the BadRequest violation with its
request needs the one it sent. Each violation is asserted for ScoreEntities on the loop,
in an inline scoring process (the same servicer code) and for StreamScores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from prioscore.server.config import Limits
from prioscore.server.rpc import convert
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.rpc.conftest import Stubs, field_violations

SMALL, LARGE = 3, 3_000  # 3 rows are scored on the loop; 3,000 (48 KB) in a worker process


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


def _values(rows: int, columns: int = 2) -> np.ndarray:
    return np.random.default_rng(rows).uniform(0, 5, (rows, columns))


def _matrix(rows: int, columns: int = 2, names: tuple[str, ...] = ()) -> types_pb2.Matrix:
    return _bytes_form(_values(rows, columns), names)  # test_leads: signals visits, demo


def _bytes_form(values: np.ndarray, names: tuple[str, ...] = ()) -> types_pb2.Matrix:
    return types_pb2.Matrix(
        shape=values.shape, dtype=types_pb2.DTYPE_FLOAT64, data=values.tobytes(), columns=names
    )


class Broken(NamedTuple):
    """A bad matrix and its ids for `rows` rows, and the field (relative to the matrix's
    field, or `entity_ids` beside it) its violation must name."""

    build: Callable[[int], tuple[types_pb2.Matrix, list[str]]]
    field: str


def _ids(rows: int) -> list[str]:
    return [f"e{i}" for i in range(rows)]


def _non_finite_data(rows: int) -> tuple[types_pb2.Matrix, list[str]]:
    values = _values(rows)
    values[rows - 1, 1] = np.nan  # the last row: a check of the first rows only misses it
    return _bytes_form(values), _ids(rows)


def _non_finite_packed(rows: int) -> tuple[types_pb2.Matrix, list[str]]:
    values = _values(rows)
    values[rows - 1, 0] = np.inf
    return types_pb2.Matrix(shape=[rows, 2], values=values.ravel()), _ids(rows)


def _short_data(rows: int) -> types_pb2.Matrix:
    matrix = _matrix(rows)
    matrix.data = matrix.data[:-8]  # one number short
    return matrix


def _too_many_rows(rows: int) -> tuple[types_pb2.Matrix, list[str]]:
    # Refused on its shape before any array is built: the data only makes it large.
    shape = [Limits().max_rows_per_batch + 1, 2]
    return types_pb2.Matrix(shape=shape, dtype=types_pb2.DTYPE_FLOAT64, data=bytes(16 * rows)), []


BROKEN = {
    "ids_for_other_rows": Broken(lambda rows: (_matrix(rows), _ids(rows + 1)), "entity_ids"),
    "wrong_column_count": Broken(lambda rows: (_matrix(rows, 3), _ids(rows)), "shape"),
    "column_names_for_other_columns": Broken(
        lambda rows: (_matrix(rows, names=("visits",)), _ids(rows)), "columns"
    ),
    "column_names_without_a_signal": Broken(
        lambda rows: (_matrix(rows, names=("visits", "other")), _ids(rows)), "columns"
    ),
    "too_many_rows": Broken(_too_many_rows, "shape"),
    "data_for_other_rows": Broken(  # rpc/convert.py's own check of the same matrix
        lambda rows: (_short_data(rows), _ids(rows)), "data"
    ),
    "non_finite_data": Broken(_non_finite_data, "data"),
    "non_finite_values": Broken(_non_finite_packed, "values"),
}


def _refusal(call: Callable[[], object]) -> tuple[list[str], str]:
    """The fields of a refused call's violations, and its ErrorInfo reason."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return list(field_violations(caught.value)), _reason(caught.value)


@pytest.mark.parametrize("rows", [SMALL, LARGE])
@pytest.mark.parametrize("case", list(BROKEN))
def test_score_entities_names_inline_features_fields(stubs: Stubs, case: str, rows: int) -> None:
    broken = BROKEN[case]
    matrix, ids = broken.build(rows)
    request = sc.ScoreEntitiesRequest(
        profile="test_leads", inline_features=sc.InlineFeatures(features=matrix, entity_ids=ids)
    )
    assert (request.ByteSize() > convert.PROCESS_BYTES) == (rows == LARGE)  # both paths taken
    fields, reason = _refusal(lambda: stubs.scoring.ScoreEntities(request, timeout=60))
    expected = (
        "inline_features.entity_ids"
        if broken.field == "entity_ids"
        else f"inline_features.features.{broken.field}"
    )
    assert (fields, reason) == ([expected], "FIELD_INVALID")


@pytest.mark.parametrize("case", list(BROKEN))
def test_stream_scores_names_its_fields(stubs: Stubs, case: str) -> None:
    matrix, ids = BROKEN[case].build(SMALL)
    good = sc.StreamScoresRequest(profile="test_leads", sequence=0, features=_matrix(2))
    bad = sc.StreamScoresRequest(profile="test_leads", sequence=1, features=matrix, entity_ids=ids)
    answered: list[int] = []

    def stream() -> None:
        for response in stubs.scoring.StreamScores(iter([good, bad]), timeout=60):
            answered.append(response.sequence)

    fields, reason = _refusal(stream)
    field = BROKEN[case].field  # in the stream's second message, as its contract check says
    expected = (
        "messages[1].entity_ids" if field == "entity_ids" else f"messages[1].features.{field}"
    )
    assert (fields, reason) == ([expected], "FIELD_INVALID")
    assert answered == [0]  # the batch before the bad one was answered


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_entities_without_ids_name_inline_features_entity_ids(stubs: Stubs, rows: int) -> None:
    """ScoreEntities only (StreamScores has no entities): the ids field beside the matrix."""
    request = sc.ScoreEntitiesRequest(
        profile="test_leads",
        inline_features=sc.InlineFeatures(
            features=_matrix(rows), entities=[types_pb2.Entity(id="e0", kind="contact")]
        ),
    )
    fields, reason = _refusal(lambda: stubs.scoring.ScoreEntities(request, timeout=60))
    assert (fields, reason) == (["inline_features.entity_ids"], "FIELD_INVALID")
