"""Conversions between prioscore.v1 messages and the service's domain types.

Bulk numbers cross as little-endian bytes (np.frombuffer / tobytes), never as repeated
fields built from numpy; per-message conversion happens only where the wire itself is
one message per item (events, entities, a page of scores).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.timestamp_pb2 import Timestamp

from prioscore.server.engine import CategoricalColumn
from prioscore.server.errors import InvalidArgumentError
from prioscore.server.handlers import (
    GROUP,
    IDENTIFY,
    TRACK,
    IncomingEntity,
    IncomingEvents,
)
from prioscore.server.scoring import (
    Contributor,
    Reason,
    Scored,
    contributors_of,
    decode_contributors,
    decode_reasons,
    reasons_of,
)
from prioscore.server.store import (
    Cause,
    EntityRecord,
    HistoryPoint,
    StoredScore,
    TierChangeRecord,
)
from prioscore.v1 import scoring_service_pb2 as scoring_pb2
from prioscore.v1 import types_pb2

_KINDS = {
    types_pb2.EVENT_KIND_TRACK: TRACK,
    types_pb2.EVENT_KIND_IDENTIFY: IDENTIFY,
    types_pb2.EVENT_KIND_GROUP: GROUP,
}
_DTYPES: dict[int, np.dtype[Any]] = {
    types_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    types_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
    types_pb2.DTYPE_INT32: np.dtype("<i4"),
    types_pb2.DTYPE_INT64: np.dtype("<i8"),
    types_pb2.DTYPE_BOOL: np.dtype("|b1"),
}
_DTYPE_CODES: dict[np.dtype[Any], Any] = {dtype: code for code, dtype in _DTYPES.items()}

# Rows (events, entity ids, feature rows) above which a request is converted and scored
# in a worker thread, not on the loop: 10k inline events took the loop for ~0.2 s, and
# every call it serves (health checks too) waited that long. Below it the thread hop
# (~0.1 ms) would cost more than it spares the loop.
OFFLOAD_ROWS = 1_000
# Serialized bytes above which an inline ScoreEntities request (inline_events or
# inline_features) is parsed, checked, scored and answered in a worker process, not in
# this one (rpc/inline_scoring.py): a thread still shares the loop's GIL, and CPU-bound
# threads convoy on it (10k events: stored probes' p99 12x idle). Measured: a worker adds
# ~4-5 ms per call; 32 KiB is ~350 events or ~250 feature rows, ~8 ms of scoring, so a
# request left here never holds the loop longer than S2's budget (3x an idle p99 of a
# few ms), and one sent to a worker is at most ~1.5x slower for it. The same bound sends
# an IngestEvents message (~400 events, ~2 ms of conversion) to a worker to be parsed,
# converted and checked (rpc/ingest_offload.py); there the round trip overlaps the
# writer's work and the stream's next message's conversion.
PROCESS_BYTES = 32 * 1024


def timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    _set_time(stamp, seconds)
    return stamp


def _set_time(stamp: Timestamp, seconds: float) -> None:
    """Epoch seconds into `stamp` (a message's own Timestamp field, set in place)."""
    whole = math.floor(seconds)
    stamp.seconds, stamp.nanos = int(whole), round((seconds - whole) * 1e9) % 1_000_000_000


def seconds_of(stamp: Timestamp) -> float:
    return stamp.seconds + stamp.nanos / 1e9


def events_from_proto(events: Sequence[types_pb2.Event], prefix: str = "events") -> IncomingEvents:
    # One pass over the messages (each field read once), transposed with zip: per event
    # this is one tuple, and no copy of a map that is empty (most of them). A map is
    # copied key by key: dict() of a upb map goes through the Python-level Mapping.keys
    # (0.67 us against 0.21 us for a one-key map).
    nan = float("nan")
    kinds = _KINDS
    rows = [
        (
            e.message_id,
            kinds.get(e.kind, ""),
            e.entity_id,
            e.event,
            seconds_of(e.time) if e.HasField("time") else nan,
            e.value if (given := e.HasField("value")) else nan,
            {k: p[k] for k in p} if (p := e.properties) else {},
            {k: m[k] for k in m} if (m := e.metrics) else {},
            {k: t[k] for k in t} if (t := e.traits) else {},
            {k: n[k] for k in n} if (n := e.numeric_traits) else {},
            e.account_id,
            e.entity_kind,
            given,
        )
        for e in events
    ]
    if not rows:
        return IncomingEvents(
            [], [], [], [], np.array([]), np.array([]), [], [], [], [], [], [], field_prefix=prefix
        )
    cols = list(zip(*rows, strict=True))
    return IncomingEvents(
        message_id=list(cols[0]),
        kind=list(cols[1]),
        entity_id=list(cols[2]),
        event=list(cols[3]),
        ts=np.array(cols[4], dtype=np.float64),
        value=np.array(cols[5], dtype=np.float64),
        properties=list(cols[6]),
        metrics=list(cols[7]),
        traits=list(cols[8]),
        numeric_traits=list(cols[9]),
        account_id=list(cols[10]),
        entity_kind=list(cols[11]),
        field_prefix=prefix,
        value_given=np.array(cols[12], dtype=bool),
    )


def entities_from_proto(entities: Sequence[types_pb2.Entity]) -> list[IncomingEntity]:
    return [
        IncomingEntity(e.id, e.kind, e.account_id, dict(e.attributes), dict(e.numeric_attributes))
        for e in entities
    ]


def entity_to_proto(record: EntityRecord) -> types_pb2.Entity:
    return types_pb2.Entity(
        id=record.id,
        kind=record.kind,
        account_id=record.account_id,
        attributes=dict(record.attributes),
        numeric_attributes=dict(record.numeric_attributes),
        create_time=timestamp(record.created),
        update_time=timestamp(record.updated),
    )


def numbers_field(matrix: types_pb2.Matrix) -> str:
    """The Matrix field that carried the numbers, which a violation of them names: a
    non-empty `data` selects the bytes form (matrix_from_proto), else the packed `values`."""
    return "data" if matrix.data else "values"


def matrix_from_proto(matrix: types_pb2.Matrix, field: str) -> np.ndarray:
    """A float64 [rows, columns] array from the bytes or the packed form."""
    if len(matrix.shape) != 2:
        raise InvalidArgumentError.of(f"{field}.shape", "must be [rows, columns]")
    rows, columns = int(matrix.shape[0]), int(matrix.shape[1])
    if rows < 0 or columns < 0:
        raise InvalidArgumentError.of(f"{field}.shape", "must not be negative")
    if numbers_field(matrix) == "data":
        dtype = _DTYPES.get(matrix.dtype)
        if dtype is None or dtype.kind != "f":
            raise InvalidArgumentError.of(
                f"{field}.dtype", "must be DTYPE_FLOAT32 or DTYPE_FLOAT64"
            )
        if len(matrix.data) != rows * columns * dtype.itemsize:
            raise InvalidArgumentError.of(
                f"{field}.data",
                f"{len(matrix.data)} bytes, expected {rows}x{columns}x{dtype.itemsize}",
            )
        array = np.frombuffer(matrix.data, dtype=dtype).reshape(rows, columns)
    else:
        if len(matrix.values) != rows * columns:
            raise InvalidArgumentError.of(
                f"{field}.values", f"{len(matrix.values)} values, expected {rows * columns}"
            )
        array = np.asarray(matrix.values, dtype=np.float64).reshape(rows, columns)
    return array.astype(np.float64, copy=False)


def vector(array: np.ndarray, packed: bool = False) -> types_pb2.Vector:
    """A Vector in the bytes form (default) or the packed form the client asked for."""
    if packed:
        return types_pb2.Vector(length=array.shape[0], values=array.astype(np.float64))
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return types_pb2.Vector(
        dtype=_DTYPE_CODES[little.dtype], length=array.shape[0], data=little.tobytes()
    )


def _contribution(
    reason: Reason, fit_prefix: str = "fit:", value: str = ""
) -> types_pb2.Contribution:
    name, kind = _column_label(reason.name, fit_prefix)
    return types_pb2.Contribution(
        name=name, feature=reason.feature, points=reason.points, kind=kind, value=value
    )


@lru_cache(maxsize=1024)
def _column_label(column: str, fit_prefix: str = "fit:") -> tuple[str, types_pb2.ContributionKind]:
    """(name, kind) of a result column in a Contribution: "fit:<attribute>" is a fit
    rule's, anything else a signal's. Columns are a profile's: a bounded set."""
    if column.startswith(fit_prefix):
        return column.removeprefix(fit_prefix), types_pb2.CONTRIBUTION_KIND_FIT
    return column, types_pb2.CONTRIBUTION_KIND_SIGNAL


def scores_to_proto(
    scored: Scored,
    as_of: float,
    explain: bool,
    into: RepeatedCompositeFieldContainer[types_pb2.Score],
) -> None:
    """Adds one Score per entity of a (bounded) unary request to `into`, a response's
    repeated field: built in place (a list of Scores passed to the response was copied
    in, one message at a time), each result column made Python values in one call."""
    result = scored.result
    profile = scored.profile
    names = (*profile.tiers.names, "")
    stamp = timestamp(as_of)
    n_signals = scored.features.shape[1]
    fit_values = (
        [attribute_values(scored, rule.attribute) for rule in profile.fit] if explain else []
    )
    rows = zip(  # one row per entity id, as the loop over the ids was
        scored.entity_ids,
        result.score.tolist(),
        result.engagement.tolist(),
        result.fit.tolist(),
        result.tier.tolist(),
        result.disqualified.tolist(),
        result.disqualify_reason.tolist(),
        strict=False,
    )
    add_score = into.add
    for row, (entity_id, points, engagement, fit, tier, disqualified, reason) in enumerate(rows):
        score = add_score(
            entity_id=entity_id,
            profile=profile.name,
            profile_version=profile.version,
            score=points,
            engagement=engagement,
            fit=fit,
            tier=names[tier],
            disqualified=disqualified,
            disqualify_reason=str(reason),
            update_time=stamp,
        )
        if explain and result.contributions is not None:
            # Every column's contribution, built in place (add, not a message appended:
            # that copies it); the row's numbers as Python floats in one call each.
            features = scored.features[row].tolist()
            points = result.contributions[row].tolist()
            add = score.contributions.add
            for column, name in enumerate(result.columns):
                if column < n_signals:
                    feature, value = features[column], ""
                else:
                    feature, value = fit_values[column - n_signals][row]
                label, kind = _column_label(name)
                add(name=label, feature=feature, points=points[column], kind=kind, value=value)
        score.top_reasons.extend(_contribution(r) for r in reasons_of(scored, row))
        score.top_contributors.extend(_contributor(c) for c in contributors_of(scored, row))


def attribute_values(scored: Scored, attribute: str) -> list[tuple[float, str]]:
    """(numeric value or NaN, text) of one attribute per scored row, for explanations;
    explain requests are bounded (one row per entity asked for), so a list is fine."""
    n = len(scored.result.score)
    column = (scored.attributes or {}).get(attribute)
    if column is None:
        return [(math.nan, "")] * n
    if isinstance(column, CategoricalColumn):
        words = (*column.vocabulary, "")  # code -1 = missing -> ""
        return [(math.nan, words[code]) for code in column.codes.tolist()]
    array = np.asarray(column)
    if array.dtype.kind in "fiu":
        return [(v, "" if math.isnan(v) else f"{v:g}") for v in array.astype(float).tolist()]
    return [(math.nan, "" if v is None else str(v)) for v in array.tolist()]


def stored_score_to_proto(stored: StoredScore, top_reasons: int) -> types_pb2.Score:
    """A stored score with its stored reasons and contributors (`top_reasons` of each;
    0: all that were stored), as RankEntities and GetEntity list them."""
    score = types_pb2.Score(**_stored_fields(stored))
    reasons = decode_reasons(stored.reasons)
    score.top_reasons.extend(_contribution(r) for r in reasons[: top_reasons or len(reasons)])
    members = decode_contributors(stored.reasons)
    score.top_contributors.extend(_contributor(c) for c in members[: top_reasons or len(members)])
    return score


def current_scores_to_proto(
    stored: Sequence[StoredScore], into: RepeatedCompositeFieldContainer[types_pb2.Score]
) -> None:
    """Stored scores as a ScoreEntities without explanations answers (Service.current_scores),
    built in place in the response's repeated field, as scores_to_proto builds them."""
    add_score = into.add
    for row in stored:
        add_score(**_stored_fields(row))


def _stored_fields(stored: StoredScore) -> dict[str, Any]:
    return dict(
        entity_id=stored.entity_id,
        profile=stored.profile,
        profile_version=stored.profile_version,
        score=stored.score,
        engagement=stored.engagement,
        fit=stored.fit,
        tier="" if stored.disqualified else stored.tier,
        disqualified=stored.disqualified,
        update_time=timestamp(stored.updated),
    )


def _contributor(contributor: Contributor) -> types_pb2.Contributor:
    return types_pb2.Contributor(entity_id=contributor.entity_id, points=contributor.points)


def tier_change_response(
    change: TierChangeRecord, account_id: str = ""
) -> scoring_pb2.WatchTierChangesResponse:
    """The WatchTierChanges message of a change, its TierChange filled in place: one
    built apart (and its Timestamp) was copied into the response, 3.3 us a change against
    1.9, paid for each change each watch stream delivers."""
    response = scoring_pb2.WatchTierChangesResponse()
    fill_tier_change(response.change, change, account_id)
    return response


def fill_tier_change(out: types_pb2.TierChange, change: TierChangeRecord, account_id: str) -> None:
    """A change into `out`, a TierChange inside the message that sends it (in place)."""
    out.entity_id = change.entity_id
    out.profile = change.profile
    out.previous_tier = change.previous_tier
    out.tier = change.tier
    out.previous_score = change.previous_score
    out.score = change.score
    _set_time(out.time, change.ts)
    out.cause_message_id = change.cause_message_id
    out.account_id = account_id
    out.change_id = change.id
    out.cause = cause_to_proto(change.cause)


_CAUSES: dict[Cause, types_pb2.TierChangeCause] = {
    Cause.EVENT: types_pb2.TIER_CHANGE_CAUSE_EVENT,
    Cause.CLOCK: types_pb2.TIER_CHANGE_CAUSE_CLOCK,
    Cause.RELOAD: types_pb2.TIER_CHANGE_CAUSE_RELOAD,
    Cause.PROMOTION: types_pb2.TIER_CHANGE_CAUSE_PROMOTION,
    Cause.BACKFILL: types_pb2.TIER_CHANGE_CAUSE_BACKFILL,
    Cause.ENTITY_UPDATE: types_pb2.TIER_CHANGE_CAUSE_ENTITY_UPDATE,
    Cause.ERASURE: types_pb2.TIER_CHANGE_CAUSE_ERASURE,
}
_CAUSE_NAMES: dict[int, str] = {int(number): cause.value for cause, number in _CAUSES.items()}
# Stored cause text -> enum, "" (from before causes were kept) UNSPECIFIED: a dict, not
# Cause(text), whose enum lookup cost a watched change 0.3 us.
_CAUSE_NUMBERS: dict[str, types_pb2.TierChangeCause] = {
    "": types_pb2.TIER_CHANGE_CAUSE_UNSPECIFIED,
    **{cause.value: number for cause, number in _CAUSES.items()},
}


def cause_to_proto(cause: str) -> types_pb2.TierChangeCause:
    """The stored cause text as the enum ("" from before causes were kept: UNSPECIFIED)."""
    number = _CAUSE_NUMBERS.get(cause)
    if number is None:
        raise ValueError(f"{cause!r} is not a valid Cause")  # as Cause(cause) raised
    return number


def causes_from_proto(causes: Sequence[int], field: str = "causes") -> frozenset[str]:
    """A watch filter's causes as stored text; UNSPECIFIED or unknown values are refused."""
    found = set()
    for i, number in enumerate(causes):
        if number not in _CAUSE_NAMES:
            raise InvalidArgumentError.of(f"{field}[{i}]", f"unknown cause {number}")
        found.add(_CAUSE_NAMES[number])
    return frozenset(found)


def history_point_to_proto(point: HistoryPoint) -> scoring_pb2.ScoreHistoryPoint:
    return scoring_pb2.ScoreHistoryPoint(
        time=timestamp(point.ts),
        score=point.score,
        tier=point.tier,
        profile_version=point.profile_version,
        top_reasons=[_contribution(r) for r in decode_reasons(point.reasons)],
        cause=cause_to_proto(point.cause),
    )
