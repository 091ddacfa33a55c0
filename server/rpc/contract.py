"""The input contract at the edge: every string, number and matrix shape of every request.

The interceptor runs this on each request message before a servicer sees it, so no RPC
can forget a field: strings carry no control characters and fit their byte limit (ids,
names, free text), repeated strings fit the count limit, scalar doubles are finite and a
Matrix shape is checked before anything is allocated for it. Events and entities are
left to handlers.requests, which checks them columnar (one pass per column, not per
message); a Matrix's numbers are checked where they are decoded.

Each message type is planned once (_plan): the fields that can break the contract and
how. Walking every message's ListFields per call, with a limit looked up per field,
cost a one-row inline ScoreEntities ~12 us (of a handler of ~35 us); the plan skips
numbers, bytes, a Timestamp and columnar messages without looking at them.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import Any, NamedTuple, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from prioscore.server.config import Limits
from prioscore.server.errors import FieldViolation, InvalidArgumentError
from prioscore.server.handlers import contract

# Checked columnar by handlers.requests (validate_events / validate_entities).
_COLUMNAR = {"prioscore.v1.Event", "prioscore.v1.Entity"}
# Repeated messages whose one string is an id, checked here as one column: walked one
# by one, Backtest's and Calibrate's 20k outcomes took the loop ~125 ms.
_ID_COLUMNS = {"prioscore.v1.Outcome": "entity_id"}
_MATRIX = "prioscore.v1.Matrix"
# Repeated ids that align with matrix rows are bounded by rows, not by the id limit.
_ROW_ALIGNED = {"prioscore.v1.StreamScoresRequest", "prioscore.v1.InlineFeatures"}
_FREE_TEXT = {"toml", "candidate_toml"}
_TOKENS = {"page_token"}
# Segment calls are JSON text (IngestSegment): bounded by Segment's per-call size and
# checked field by field once parsed (handlers.segment).
_SEGMENT_CALLS = {"calls"}
_DOUBLE = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}


def check_request(message: Any, limits: Limits) -> None:
    """Raises InvalidArgumentError naming every field of `message` that breaks the contract.

    A method registered without a request deserializer (the benches' raw-bytes echo
    anchor, on the same interceptor stack) hands over bytes: there are no fields to check.
    """
    if isinstance(message, bytes):
        return
    violations: list[FieldViolation] = []
    _walk(message, "", limits, violations)
    if violations:
        raise InvalidArgumentError(violations[: contract.MAX_VIOLATIONS])


class _Step(NamedTuple):
    """One field of a message that can hold a violation, and how it is checked.

    `most` and `cap` name Limits attributes (byte limit, count limit), read per call:
    the plan is per message type, shared by every Limits."""

    kind: int
    name: str
    most: str = ""
    cap: str = ""
    free: bool = False  # free text: tab and newlines allowed
    id_field: str = ""  # of an _IDS column


# Step kinds.
_SHAPE, _TEXT, _TEXTS, _FINITE, _KEYS, _IDS, _MESSAGE, _MESSAGES = range(8)
_PLANS: dict[Descriptor, tuple[_Step, ...]] = {}


def _plan(
    descriptor: Descriptor, building: frozenset[Descriptor] = frozenset()
) -> tuple[_Step, ...]:
    """The steps of a message type, in field-number order (the order ListFields reports
    violations in), built once per type. Fields that cannot break the contract (numbers
    other than scalar doubles, enums, bytes, bools) and messages without any such field
    (a Timestamp, the columnar Event and Entity) have no step, so a request pays only for
    what it could get wrong. `building` holds the types being planned: a type that refers
    back to one of them (a cycle) is walked."""
    plan = _PLANS.get(descriptor)
    if plan is None:
        plan = _PLANS[descriptor] = _build(descriptor, building | {descriptor})
    return plan


def _build(descriptor: Descriptor, building: frozenset[Descriptor]) -> tuple[_Step, ...]:
    full_name = descriptor.full_name
    steps = [_Step(_SHAPE, "")] if full_name == _MATRIX else []
    for field in sorted(descriptor.fields, key=attrgetter("number")):
        name, repeated = field.name, field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            item = cast(Descriptor, field.message_type)  # set on every message field
            if item.full_name in _COLUMNAR:
                continue
            if item.GetOptions().map_entry:
                steps.append(_Step(_KEYS, name, "max_name_bytes"))
            elif repeated and item.full_name in _ID_COLUMNS:
                id_field = _ID_COLUMNS[item.full_name]
                steps.append(_Step(_IDS, name, "max_id_bytes", id_field=id_field))
            elif item in building or _plan(item, building):
                steps.append(_Step(_MESSAGES if repeated else _MESSAGE, name))
        elif field.type == FieldDescriptor.TYPE_STRING:
            most, free = _string_limit(name)
            if repeated:
                steps.append(_Step(_TEXTS, name, most, _count_limit(full_name)))
            else:
                steps.append(_Step(_TEXT, name, most, free=free))
        elif field.type in _DOUBLE and not repeated:
            steps.append(_Step(_FINITE, name))
    return tuple(steps)


def _string_limit(name: str) -> tuple[str, bool]:
    """(the Limits attribute of its byte limit, free text?) of a string field by name."""
    if name in _FREE_TEXT:
        return "max_profile_bytes", True
    if name in _SEGMENT_CALLS:
        return "max_segment_message_bytes", True
    if name in _TOKENS:
        return "max_value_bytes", False
    if name == "id" or name.endswith(("_id", "_ids")):
        return "max_id_bytes", False
    return "max_name_bytes", False


def _count_limit(message_name: str) -> str:
    """The Limits attribute bounding a repeated string field's entries."""
    if message_name == _MATRIX:
        return "max_matrix_columns"  # column names
    if message_name in _ROW_ALIGNED:
        return "max_rows_per_batch"
    return "max_ids_per_request"


def _named(path: str) -> contract.Namer:
    return lambda _: path


def _indexed(path: str) -> contract.Namer:
    return lambda i: f"{path}[{i}]"


def _indexed_field(path: str, field: str) -> contract.Namer:
    return lambda i: f"{path}[{i}].{field}"


def _walk(message: Any, prefix: str, limits: Limits, out: list[FieldViolation]) -> None:
    """Appends the violations of `message` (its fields named from `prefix`) to `out`.

    An unset field reads as its default, which breaks nothing (an empty string, 0.0,
    no entries), except an unset message: that is skipped, as ListFields would."""
    for kind, name, most, cap, free, id_field in _plan(message.DESCRIPTOR):
        if kind == _SHAPE:
            _matrix(message, prefix, limits, out)
            continue
        if kind == _MESSAGE:
            if message.HasField(name):
                _walk(getattr(message, name), f"{prefix}{name}.", limits, out)
            continue
        value = getattr(message, name)
        if kind == _TEXT:
            if value:
                out += contract.texts(
                    [value], _named(prefix + name), getattr(limits, most), free_text=free
                )
        elif kind == _FINITE:
            if not math.isfinite(value):
                out.append(FieldViolation(prefix + name, "must be a finite number"))
        elif not value:  # no entries: nothing to check
            continue
        elif kind == _TEXTS:
            path, count = prefix + name, getattr(limits, cap)
            if len(value) > count:
                out.append(FieldViolation(path, f"{len(value)} entries; at most {count}"))
            else:
                out += contract.texts(list(value), _indexed(path), getattr(limits, most))
        elif kind == _MESSAGES:
            path = prefix + name
            for i, item in enumerate(value):
                _walk(item, f"{path}[{i}].", limits, out)
        elif kind == _KEYS:
            keys = list(value.keys())
            out += contract.texts(keys, _named(prefix + name), limits.max_name_bytes, what="a key ")
        else:  # _IDS
            ids = list(map(attrgetter(id_field), value))
            name_of = _indexed_field(prefix + name, id_field)
            out += contract.texts(ids, name_of, getattr(limits, most))


def _matrix(matrix: Any, prefix: str, limits: Limits, out: list[FieldViolation]) -> None:
    """The shape, before any array is built from it: two entries within the limits."""
    shape = list(matrix.shape)
    if len(shape) != 2:
        out.append(FieldViolation(f"{prefix}shape", "must be [rows, columns]"))
        return
    rows, columns = shape
    if not 0 <= rows <= limits.max_rows_per_batch:
        out.append(FieldViolation(f"{prefix}shape", f"rows must be 0-{limits.max_rows_per_batch}"))
    if not 0 <= columns <= limits.max_matrix_columns:
        out.append(
            FieldViolation(f"{prefix}shape", f"columns must be 0-{limits.max_matrix_columns}")
        )
