"""Fuzzing a live server: random bytes and random well-formed messages for every RPC.

Whatever arrives, the server answers with a deliberate status (INVALID_ARGUMENT,
NOT_FOUND, UNIMPLEMENTED, ...) and never INTERNAL or UNKNOWN, and it is still SERVING
afterwards. Each hypothesis example carries a batch of calls fired concurrently, so the
10,000 cases fit well inside a minute.
"""

from __future__ import annotations

import base64
import collections
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor as _descriptor
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prioscore.v1 import (
    event_service_pb2,
    event_service_pb2_grpc,
    profile_service_pb2,
    scoring_service_pb2,
)
from prioscore.v1 import event_service_pb2 as ev
from tests.ops.conftest import ServerFactory, ServerProcess

pytestmark = pytest.mark.slow

# Raw bytes are cheap to generate; a well-formed message costs hypothesis ~4 ms to draw.
RAW_EXAMPLES, RAW_CALLS = 375, 20  # 10,500 cases planned: >10,000 sent after skips
STRUCTURED_EXAMPLES, STRUCTURED_CALLS = 300, 10
CALL_TIMEOUT = 10.0
WATCH_TIMEOUT = 0.05  # a valid WatchTierChanges waits for changes; a bad one fails at once
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


@dataclass(frozen=True)
class Rpc:
    path: str
    request: _descriptor.Descriptor
    client_streaming: bool
    server_streaming: bool


def _rpcs() -> list[Rpc]:
    found = []
    for module in (scoring_service_pb2, event_service_pb2, profile_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.append(
                    Rpc(
                        f"/{service.full_name}/{method.name}",
                        method.input_type,
                        method.client_streaming,
                        method.server_streaming,
                    )
                )
    return found


RPCS = _rpcs()
HEALTH = Rpc("/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest.DESCRIPTOR, False, False)
assert len(RPCS) >= 15, [r.path for r in RPCS]


# -- a hypothesis strategy for any message, from its descriptor ---------------------------

WORDS = [
    "",
    "lead_qualification",
    "churn_risk",
    "saas_renewal",
    "ticket_triage",
    "contact",
    "account",
    "page_view",
    "form_submit",
    "hot",
    "warm",
    "cold",
    "c1",
    "acme",
    "/pricing",
    "url",
    "seniority",
]
# The input contract's classes (tests/rpc/test_input_contract.py): NUL and control
# characters, ids over the byte limits, quotes and backslashes, forged page tokens.
HOSTILE = [
    "victim\0x",
    "c1\x1b[2J",
    "x" * 600,
    "é" * 300,
    'pl"an',
    "a\\b",
    base64.urlsafe_b64encode(b'{"q":"","p":[{},{}]}').decode(),
    base64.urlsafe_b64encode(b'{"q":"","p":[null,"x"]}').decode(),
    base64.urlsafe_b64encode(b'{"q":"","p":' + b"[" * 3000 + b"]" * 3000 + b"}").decode(),
]
TEXT = st.sampled_from(WORDS) | st.sampled_from(HOSTILE) | st.text(max_size=24)
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1.0, 1e308])
_INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    small = st.integers(max(lo, -3), min(hi, 12))
    return small | st.integers(lo, hi) | st.sampled_from([lo, hi])


def _scalar(field: _descriptor.FieldDescriptor) -> st.SearchStrategy[object]:
    kind = field.type
    if kind == F.TYPE_STRING:
        return TEXT
    if kind == F.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind == F.TYPE_DOUBLE:
        return FLOATS
    if kind == F.TYPE_FLOAT:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if kind == F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.sampled_from(known) | st.integers(-2, max(known) + 3)
    lo, hi = _INT_RANGES[kind]
    return _integers(lo, hi)


def _matrix() -> st.SearchStrategy[Message]:
    """A Matrix whose bytes agree with its shape (the generic one rarely does)."""
    from prioscore.v1 import types_pb2

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        if draw(st.integers(0, 9)) == 0:  # a shape that would allocate the impossible
            shape = draw(st.sampled_from([[2**62, 0], [0, 2**62], [2**40, 2**40], [-1, 3]]))
            return types_pb2.Matrix(dtype=types_pb2.DTYPE_FLOAT64, shape=shape)
        rows, columns = draw(st.integers(0, 6)), draw(st.integers(0, 9))
        dtype = draw(st.sampled_from([types_pb2.DTYPE_FLOAT32, types_pb2.DTYPE_FLOAT64]))
        values = draw(st.lists(FLOATS, min_size=rows * columns, max_size=rows * columns))
        with np.errstate(over="ignore"):  # float32 overflow → inf: also worth sending
            array = np.asarray(values, dtype="<f8" if dtype == types_pb2.DTYPE_FLOAT64 else "<f4")
        matrix = types_pb2.Matrix(dtype=dtype, shape=[rows, columns])
        if draw(st.booleans()):
            matrix.data = array.tobytes()
        else:
            matrix.values.extend(values)
        return matrix

    return build()


_cache: dict[tuple[str, int], st.SearchStrategy[Message]] = {}


def message(descriptor: _descriptor.Descriptor, depth: int = 4) -> st.SearchStrategy[Message]:
    key = (descriptor.full_name, depth)
    if key not in _cache:
        _cache[key] = st.deferred(lambda: _message(descriptor, depth))
    return _cache[key]


def _value(field: _descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy[object]:
    if field.type == F.TYPE_MESSAGE:
        return message(field.message_type, depth - 1)
    return _scalar(field)


def _message(descriptor: _descriptor.Descriptor, depth: int) -> st.SearchStrategy[Message]:
    cls = GetMessageClass(descriptor)
    if depth <= 0:
        return st.just(cls())
    generic = _generic(descriptor, cls, depth)
    if descriptor.full_name == "prioscore.v1.Matrix":
        return _matrix() | generic
    return generic


def _generic(
    descriptor: _descriptor.Descriptor, cls: type[Message], depth: int
) -> st.SearchStrategy[Message]:
    parts: dict[str, st.SearchStrategy[object]] = {}
    for field in descriptor.fields:
        entry = field.message_type if field.type == F.TYPE_MESSAGE else None
        if entry is not None and entry.GetOptions().map_entry:
            keys = _scalar(entry.fields_by_name["key"])
            values = _value(entry.fields_by_name["value"], depth)
            parts[field.name] = st.dictionaries(keys, values, max_size=3)
        elif field.is_repeated:
            parts[field.name] = st.lists(_value(field, depth), max_size=4)
        else:
            parts[field.name] = _value(field, depth)

    def build(values: dict[str, object]) -> Message:
        built = cls()
        for name, value in values.items():
            field = descriptor.fields_by_name[name]
            target = getattr(built, name)
            if isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, Message):
                        target[k].CopyFrom(v)
                    else:
                        target[k] = v
            elif isinstance(value, list):
                if field.type == F.TYPE_MESSAGE:
                    for item in value:
                        target.add().CopyFrom(item)
                else:
                    target.extend(value)
            elif isinstance(value, Message):
                target.CopyFrom(value)
            else:
                setattr(built, name, value)
        return built

    return st.fixed_dictionaries({}, optional=parts).map(build)


# -- calls ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rpc: Rpc
    payloads: tuple[bytes, ...]  # one for a unary request, the stream's messages otherwise


def _invoke(channel: grpc.Channel, case: Case) -> grpc.StatusCode:
    rpc = case.rpc
    timeout = WATCH_TIMEOUT if rpc.path.endswith("/WatchTierChanges") else CALL_TIMEOUT
    try:
        if rpc.client_streaming and rpc.server_streaming:
            list(channel.stream_stream(rpc.path)(iter(case.payloads), timeout=timeout))
        elif rpc.client_streaming:
            channel.stream_unary(rpc.path)(iter(case.payloads), timeout=timeout)
        elif rpc.server_streaming:
            list(channel.unary_stream(rpc.path)(case.payloads[0], timeout=timeout))
        else:
            channel.unary_unary(rpc.path)(case.payloads[0], timeout=timeout)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return, attr-defined]
    return grpc.StatusCode.OK


class Fuzzer:
    """Fires batches of cases at the server and remembers every status it answered."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.channel = server.channel(options=[("grpc.max_receive_message_length", -1)])
        self.pool = ThreadPoolExecutor(RAW_CALLS)
        self.codes: collections.Counter[str] = collections.Counter()
        self.bad: list[tuple[Case, grpc.StatusCode]] = []
        self.lock = threading.Lock()

    def run(self, cases: list[Case]) -> None:
        codes = list(self.pool.map(lambda c: _invoke(self.channel, c), cases))
        bad = [(c, code) for c, code in zip(cases, codes, strict=True) if code in FORBIDDEN]
        with self.lock:
            self.codes.update(code.name for code in codes)
            self.bad.extend(bad)
        assert not bad, self.report(bad)

    def report(self, bad: list[tuple[Case, grpc.StatusCode]]) -> str:
        lines = [f"{code.name} from {case.rpc.path} {case.payloads!r}" for case, code in bad]
        return "\n".join([*lines[:5], "server log tail:", self.server.log()[-4000:]])

    def close(self) -> None:
        self.pool.shutdown()
        self.channel.close()


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    factory = ServerFactory(tmp_path_factory.mktemp("fuzz"))
    fuzzer = Fuzzer(factory())
    yield fuzzer
    fuzzer.close()
    factory.stop_all()


FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

any_rpc = st.sampled_from([*RPCS, HEALTH])
raw_case = st.builds(
    Case,
    any_rpc,
    st.lists(st.binary(max_size=96), min_size=1, max_size=3).map(tuple),
)


@st.composite
def structured_case(draw: st.DrawFn) -> Case:
    rpc = draw(st.sampled_from(RPCS))
    count = draw(st.integers(1, 3)) if rpc.client_streaming else 1
    payloads = [draw(message(rpc.request)).SerializeToString() for _ in range(count)]
    return Case(rpc, tuple(payloads))


@settings(FUZZ, max_examples=RAW_EXAMPLES)
@given(cases=st.lists(raw_case, min_size=RAW_CALLS, max_size=RAW_CALLS))
def test_random_bytes_never_cause_internal_errors(fuzzer: Fuzzer, cases: list[Case]) -> None:
    fuzzer.run(cases)


@settings(FUZZ, max_examples=STRUCTURED_EXAMPLES)
@given(cases=st.lists(structured_case(), min_size=STRUCTURED_CALLS, max_size=STRUCTURED_CALLS))
def test_random_well_formed_messages_never_cause_internal_errors(
    fuzzer: Fuzzer, cases: list[Case]
) -> None:
    fuzzer.run(cases)


def test_server_still_serving_after_the_fuzz(fuzzer: Fuzzer) -> None:
    total = sum(fuzzer.codes.values())
    print(f"\nfuzz: {total} calls, {dict(fuzzer.codes)}")
    assert total >= RAW_EXAMPLES * RAW_CALLS + STRUCTURED_EXAMPLES * STRUCTURED_CALLS
    assert fuzzer.codes["OK"] > 0 and fuzzer.codes["INVALID_ARGUMENT"] > 0
    assert fuzzer.server.health() == health_pb2.HealthCheckResponse.SERVING
    assert fuzzer.server.proc.poll() is None


def test_ingest_message_without_events_is_not_an_internal_error(fuzzer: Fuzzer) -> None:
    with fuzzer.server.channel() as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        reply = stub.IngestEvents(iter([ev.IngestEventsRequest()]), timeout=10)
    assert reply.accepted == 0
