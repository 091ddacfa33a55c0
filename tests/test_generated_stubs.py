"""The committed generated code in protos/prioscore/v1 must match the .proto files.

Regenerates every stub into a temporary directory exactly as `make proto` does
(grpc_tools.protoc with --python_out, --grpc_python_out and --pyi_out) and compares byte
for byte; a difference means someone edited a .proto without running `make proto` (or
with a different grpcio-tools). Also checks the generated modules expose the RPCs the
servicers and clients are written against.
"""

from __future__ import annotations

import importlib
import importlib.resources
from pathlib import Path

import numpy as np
import pytest
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
PROTO_DIR = PROTO_ROOT / "prioscore" / "v1"
PROTOS = sorted(PROTO_DIR.glob("*.proto"))
GENERATED_SUFFIXES = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")
REGENERATE = "run `make proto` and commit the result"


def _well_known_include() -> str:
    # `python -m grpc_tools.protoc` appends this include itself; protoc.main() does not.
    return str(importlib.resources.files("grpc_tools") / "_proto")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stubs")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{_well_known_include()}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--pyi_out={out}",
        *(str(p) for p in PROTOS),
    ]
    rc = protoc.main(args)
    assert rc == 0, f"protoc failed (exit {rc}) on {[p.name for p in PROTOS]}"
    return out / "prioscore" / "v1"


def _expected_names() -> list[str]:
    return [p.stem + suffix for p in PROTOS for suffix in GENERATED_SUFFIXES]


def test_protos_exist() -> None:
    names = {p.name for p in PROTOS}
    assert {
        "types.proto",
        "scoring_service.proto",
        "event_service.proto",
        "profile_service.proto",
    } <= names


@pytest.mark.parametrize("name", _expected_names())
def test_committed_stub_is_current(regenerated: Path, name: str) -> None:
    committed = PROTO_DIR / name
    fresh = regenerated / name
    assert fresh.exists(), f"protoc did not produce {name}"
    assert committed.exists(), f"protos/prioscore/v1/{name} is missing: {REGENERATE}"
    if committed.read_bytes() != fresh.read_bytes():
        pytest.fail(f"protos/prioscore/v1/{name} is stale (differs from its .proto): {REGENERATE}")


def test_no_orphaned_stubs() -> None:
    expected = set(_expected_names())
    generated = {
        p.name
        for p in PROTO_DIR.iterdir()
        if p.name.endswith(GENERATED_SUFFIXES) and p.name not in expected
    }
    assert not generated, f"generated files without a .proto (delete them): {sorted(generated)}"


# The shapes the rpc servicers and the clients are coded against: (client streaming,
# server streaming) per RPC; requests and responses are named <Rpc>Request / <Rpc>Response.
CONTRACT = {
    "ScoringService": {
        "ScoreEntities": (False, False),
        "StreamScores": (True, True),
        "RankEntities": (False, False),
        "GetScoreHistory": (False, False),
        "WatchTierChanges": (False, True),
        "GetEntity": (False, False),
    },
    "EventService": {
        "IngestEvents": (True, False),
        "IngestSegment": (True, False),
        "UpsertEntities": (False, False),
        "EraseEntity": (False, False),
        "AllowEntity": (False, False),
    },
    "ProfileService": {
        "ListProfiles": (False, False),
        "GetProfile": (False, False),
        "ValidateProfile": (False, False),
        "ReloadProfiles": (False, False),
        "Backtest": (False, False),
        "Calibrate": (False, False),
        "CompareProfiles": (False, False),
        "StageProfile": (False, False),
        "PromoteProfile": (False, False),
        "DeleteShadowProfile": (False, False),
    },
}


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_services_expose_the_contract(service: str) -> None:
    module_name = {
        "ScoringService": "scoring_service",
        "EventService": "event_service",
        "ProfileService": "profile_service",
    }[service]
    pb2 = importlib.import_module(f"prioscore.v1.{module_name}_pb2")
    grpc_mod = importlib.import_module(f"prioscore.v1.{module_name}_pb2_grpc")
    desc = pb2.DESCRIPTOR.services_by_name[service]
    assert desc.full_name == f"prioscore.v1.{service}"
    methods = {m.name: m for m in desc.methods}
    assert set(methods) == set(CONTRACT[service]), f"{service} RPCs changed"
    for name, (client_stream, server_stream) in CONTRACT[service].items():
        m = methods[name]
        assert (m.client_streaming, m.server_streaming) == (client_stream, server_stream), name
        assert m.input_type.name == f"{name}Request"
        assert m.output_type.name == f"{name}Response"
    for attr in (f"{service}Stub", f"{service}Servicer", f"add_{service}Servicer_to_server"):
        assert hasattr(grpc_mod, attr), f"{module_name}_pb2_grpc lacks {attr}"


def test_matrix_bytes_round_trip() -> None:
    from prioscore.v1 import scoring_service_pb2, types_pb2

    features = np.random.default_rng(0).random((5, 3)).astype("<f4")
    request = scoring_service_pb2.StreamScoresRequest(
        profile="lead_qualification",
        sequence=7,
        features=types_pb2.Matrix(
            dtype=types_pb2.DTYPE_FLOAT32, shape=features.shape, data=features.tobytes()
        ),
    )
    decoded = scoring_service_pb2.StreamScoresRequest.FromString(request.SerializeToString())
    m = decoded.features
    back = np.frombuffer(m.data, dtype="<f4").reshape(tuple(m.shape))
    np.testing.assert_array_equal(back, features)
    assert decoded.sequence == 7


def test_vector_packed_alternative() -> None:
    from prioscore.v1 import types_pb2

    v = types_pb2.Vector(length=3, values=[1.0, 2.5, -1.0])
    assert types_pb2.Vector.FromString(v.SerializeToString()).values == [1.0, 2.5, -1.0]


def test_event_value_presence() -> None:
    from prioscore.v1 import types_pb2

    # `value` is optional so "absent" (meaning 1.0) is distinguishable from an explicit 0.
    assert not types_pb2.Event(message_id="m1").HasField("value")
    assert types_pb2.Event(message_id="m1", value=0.0).HasField("value")
