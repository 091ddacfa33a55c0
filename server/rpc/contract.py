"""The input contract at the edge: every string, number and matrix shape of every request.

The interceptor runs this on each request message before a servicer sees it, so no RPC
can forget a field: strings carry no control characters and fit their byte limit (ids,
names, free text), repeated strings fit the count limit, scalar doubles are finite and a
Matrix shape is checked before anything is allocated for it. Events and entities are
left to handlers.requests, which checks them columnar (one pass per column, not per
message); a Matrix's numbers are checked where they are decoded.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

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


def _string_limit(name: str, limits: Limits) -> tuple[int, bool]:
    """(byte limit, free text?) of a string field by its name."""
    if name in _FREE_TEXT:
        return limits.max_profile_bytes, True
    if name in _SEGMENT_CALLS:
        return limits.max_segment_message_bytes, True
    if name in _TOKENS:
        return limits.max_value_bytes, False
    if name == "id" or name.endswith(("_id", "_ids")):
        return limits.max_id_bytes, False
    return limits.max_name_bytes, False


def _named(path: str) -> contract.Namer:
    return lambda _: path


def _indexed(path: str) -> contract.Namer:
    return lambda i: f"{path}[{i}]"


def _indexed_field(path: str, field: str) -> contract.Namer:
    return lambda i: f"{path}[{i}].{field}"


def _count_limit(message_name: str, limits: Limits) -> int:
    if message_name == _MATRIX:
        return limits.max_matrix_columns  # column names
    if message_name in _ROW_ALIGNED:
        return limits.max_rows_per_batch
    return limits.max_ids_per_request


def _walk(message: Any, prefix: str, limits: Limits, out: list[FieldViolation]) -> None:
    full_name = message.DESCRIPTOR.full_name
    if full_name == _MATRIX:
        _matrix(message, prefix, limits, out)
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.full_name in _COLUMNAR:
                continue
            if field.message_type.GetOptions().map_entry:
                keys = list(value.keys())
                out += contract.texts(keys, _named(path), limits.max_name_bytes, what="a key ")
                continue
            id_field = _ID_COLUMNS.get(field.message_type.full_name)
            if repeated and id_field is not None:
                ids = list(map(attrgetter(id_field), value))
                name = _indexed_field(path, id_field)
                out += contract.texts(ids, name, limits.max_id_bytes)
            elif repeated:
                for i, item in enumerate(value):
                    _walk(item, f"{path}[{i}].", limits, out)
            else:
                _walk(value, f"{path}.", limits, out)
        elif field.type == FieldDescriptor.TYPE_STRING:
            most, free = _string_limit(field.name, limits)
            if repeated:
                cap = _count_limit(full_name, limits)
                if len(value) > cap:
                    out.append(FieldViolation(path, f"{len(value)} entries; at most {cap}"))
                    continue
                out += contract.texts(list(value), _indexed(path), most)
            else:
                out += contract.texts([value], _named(path), most, free_text=free)
        elif field.type in _DOUBLE and not repeated and not math.isfinite(value):
            out.append(FieldViolation(path, "must be a finite number"))


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
