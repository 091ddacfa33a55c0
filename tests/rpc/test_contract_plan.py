"""The contract's per-type plans (rpc/contract.py) refuse exactly what walking every set
field refuses: same fields, same descriptions, same order.

`_reference` is the walk the plans replaced (every message's ListFields, every call);
random requests of every method, with good and bad strings, doubles, counts, map keys and
matrix shapes under small limits, must come out the same from both.
"""

from __future__ import annotations

import math
import random
from operator import attrgetter
from typing import Any

import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from prioscore.server.config import Limits
from prioscore.server.errors import FieldViolation, InvalidArgumentError
from prioscore.server.handlers import contract
from prioscore.server.rpc.contract import _plan, _walk, check_request
from prioscore.v1 import event_service_pb2, profile_service_pb2, scoring_service_pb2, types_pb2

# Small limits, so a few characters or entries break them.
SMALL = Limits(
    max_rows_per_batch=3,
    max_ids_per_request=3,
    max_id_bytes=8,
    max_name_bytes=6,
    max_value_bytes=10,
    max_profile_bytes=20,
    max_matrix_columns=3,
    max_segment_message_bytes=20,
)
_STRINGS = ["", "ok", "a\x00b", "é" * 5, "x" * 30, "t\tab", "two\nlines", "id-1", "\x7f"]
_DOUBLES = [0.0, -0.0, 1.5, math.nan, math.inf, -math.inf]
_SIGNED = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
}
_UNSIGNED = {
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64,
}
_FLOATS = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}


def _requests() -> list[Descriptor]:
    modules = (scoring_service_pb2, event_service_pb2, profile_service_pb2)
    found = {
        method.input_type.full_name: method.input_type
        for module in modules
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    return [found[name] for name in sorted(found)]


def _scalar(field: FieldDescriptor, rng: random.Random) -> Any:
    if field.type == FieldDescriptor.TYPE_STRING:
        return rng.choice(_STRINGS)
    if field.type in _FLOATS:
        return rng.choice(_DOUBLES)
    if field.type in _SIGNED:
        return rng.randint(-2, 5)
    if field.type in _UNSIGNED:
        return rng.randint(0, 5)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if field.type == FieldDescriptor.TYPE_ENUM:
        return rng.choice(field.enum_type.values).number
    return b"\x00raw"  # bytes


def _fill(message: Any, rng: random.Random, depth: int) -> None:
    """Sets a random subset of `message`'s fields (nested messages up to `depth`)."""
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.45:
            continue
        target = getattr(message, field.name)
        item = field.message_type
        if item is not None and item.GetOptions().map_entry:
            value_field = item.fields_by_name["value"]
            for _ in range(rng.randint(0, 3)):
                key = rng.choice(_STRINGS)
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    if depth > 0:
                        _fill(target[key], rng, depth - 1)
                else:
                    target[key] = _scalar(value_field, rng)
        elif item is not None:
            if depth == 0:
                continue
            if field.is_repeated:
                for _ in range(rng.randint(0, 4)):
                    _fill(target.add(), rng, depth - 1)
            else:
                getattr(message, field.name).SetInParent()
                _fill(target, rng, depth - 1)
        elif field.is_repeated:
            target.extend(_scalar(field, rng) for _ in range(rng.randint(0, 4)))
        else:
            setattr(message, field.name, _scalar(field, rng))


def _reference(message: Any, prefix: str, limits: Limits, out: list[FieldViolation]) -> None:
    """Every set field of every message, as the contract walked before it had plans."""
    full_name = message.DESCRIPTOR.full_name
    if full_name == "prioscore.v1.Matrix":
        shape = list(message.shape)
        if len(shape) != 2:
            out.append(FieldViolation(f"{prefix}shape", "must be [rows, columns]"))
        else:
            rows, columns = shape
            if not 0 <= rows <= limits.max_rows_per_batch:
                out.append(
                    FieldViolation(f"{prefix}shape", f"rows must be 0-{limits.max_rows_per_batch}")
                )
            if not 0 <= columns <= limits.max_matrix_columns:
                description = f"columns must be 0-{limits.max_matrix_columns}"
                out.append(FieldViolation(f"{prefix}shape", description))
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            item = field.message_type.full_name
            if item in ("prioscore.v1.Event", "prioscore.v1.Entity"):
                continue
            if field.message_type.GetOptions().map_entry:
                out += contract.texts(
                    list(value.keys()), lambda _, p=path: p, limits.max_name_bytes, what="a key "
                )
            elif field.is_repeated and item == "prioscore.v1.Outcome":
                ids = list(map(attrgetter("entity_id"), value))
                name = lambda i, p=path: f"{p}[{i}].entity_id"  # noqa: E731
                out += contract.texts(ids, name, limits.max_id_bytes)
            elif field.is_repeated:
                for i, one in enumerate(value):
                    _reference(one, f"{path}[{i}].", limits, out)
            else:
                _reference(value, f"{path}.", limits, out)
        elif field.type == FieldDescriptor.TYPE_STRING:
            most, free = _byte_limit(field.name, limits)
            if field.is_repeated:
                cap = _entry_limit(full_name, limits)
                if len(value) > cap:
                    out.append(FieldViolation(path, f"{len(value)} entries; at most {cap}"))
                    continue
                out += contract.texts(list(value), lambda i, p=path: f"{p}[{i}]", most)
            else:
                out += contract.texts([value], lambda _, p=path: p, most, free_text=free)
        elif field.type in _FLOATS and not field.is_repeated and not math.isfinite(value):
            out.append(FieldViolation(path, "must be a finite number"))


def _byte_limit(name: str, limits: Limits) -> tuple[int, bool]:
    if name in ("toml", "candidate_toml"):
        return limits.max_profile_bytes, True
    if name == "calls":
        return limits.max_segment_message_bytes, True
    if name == "page_token":
        return limits.max_value_bytes, False
    if name == "id" or name.endswith(("_id", "_ids")):
        return limits.max_id_bytes, False
    return limits.max_name_bytes, False


def _entry_limit(message_name: str, limits: Limits) -> int:
    if message_name == "prioscore.v1.Matrix":
        return limits.max_matrix_columns
    if message_name in ("prioscore.v1.StreamScoresRequest", "prioscore.v1.InlineFeatures"):
        return limits.max_rows_per_batch
    return limits.max_ids_per_request


def _both(message: Any, limits: Limits) -> tuple[list[FieldViolation], list[FieldViolation]]:
    planned: list[FieldViolation] = []
    reference: list[FieldViolation] = []
    _walk(message, "", limits, planned)
    _reference(message, "", limits, reference)
    return planned, reference


@pytest.mark.parametrize("descriptor", _requests(), ids=attrgetter("name"))
def test_random_requests_are_refused_as_a_full_walk_refuses_them(descriptor: Descriptor) -> None:
    rng = random.Random(descriptor.full_name)
    cls = message_factory.GetMessageClass(descriptor)
    refused = 0
    for _ in range(150):
        message = cls()
        _fill(message, rng, depth=4)
        planned, reference = _both(message, SMALL)
        assert planned == reference, message
        refused += bool(reference)
    # The corpus exercises refusals wherever the request has a field that can break one.
    assert refused > 0 or not _plan(descriptor)


def test_inline_scoring_requests_match_the_full_walk() -> None:
    """The request the P3 bench sends, and its bad variants, field for field."""
    good = scoring_service_pb2.ScoreEntitiesRequest(
        profile="lead",
        inline_features=scoring_service_pb2.InlineFeatures(
            features=types_pb2.Matrix(shape=[1, 2], columns=["a", "b"], data=b"\x00" * 16),
            entity_ids=["e1"],
        ),
    )
    assert _both(good, SMALL) == ([], [])
    bad = scoring_service_pb2.ScoreEntitiesRequest()
    bad.CopyFrom(good)
    bad.profile = "p\x00"
    bad.inline_features.features.shape[:] = [9, 9]
    bad.inline_features.entity_ids[:] = ["e1", "e2", "e3", "e4"]
    planned, reference = _both(bad, SMALL)
    assert planned == reference
    assert [v.field for v in planned] == [
        "profile",
        "inline_features.features.shape",
        "inline_features.features.shape",
        "inline_features.entity_ids",
    ]
    with pytest.raises(InvalidArgumentError):
        check_request(bad, SMALL)


def test_types_that_cannot_break_the_contract_have_no_steps() -> None:
    """A Timestamp, and a message of only columnar (handler-checked) fields, are not walked;
    a Matrix always is (its shape), and ScoreEntities plans only what can break."""
    assert _plan(types_pb2.Matrix.DESCRIPTOR)
    inline_events = scoring_service_pb2.InlineEvents.DESCRIPTOR
    assert _plan(inline_events) == ()
    steps = _plan(scoring_service_pb2.ScoreEntitiesRequest.DESCRIPTOR)
    assert [s.name for s in steps] == ["profile", "stored", "inline_features"]
