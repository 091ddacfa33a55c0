"""Transport-neutral request inputs and their validation.

The rpc converters (and the CLI, through the API) decode wire messages into these
columnar shapes; the service validates them here, all at once, so a rejected request
names every bad field and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

import numpy as np

from prioscore.server.config import Limits
from prioscore.server.engine import CategoricalColumn, EventColumns, Profile, profile_inputs
from prioscore.server.errors import FieldViolation, InvalidArgumentError
from prioscore.server.handlers import contract
from prioscore.server.handlers.json_text import compact_encoder
from prioscore.server.store import EntityRecord

T = TypeVar("T")

TRACK, IDENTIFY, GROUP, ALIAS = "track", "identify", "group", "alias"
EVENT_KINDS = (TRACK, IDENTIFY, GROUP, ALIAS)
_KNOWN_KINDS = frozenset(EVENT_KINDS)
# Never NaN in stored properties: not JSON.
compact_json = compact_encoder(allow_nan=False)


@dataclass
class IncomingEvents:
    """A batch of Segment-style messages in columnar form, one entry per message.

    ts is epoch seconds (NaN = not given: the server's clock is used); value NaN = not
    given (1.0). For identify, traits describe entity_id; for group, traits describe the
    account account_id and entity_id joins it.
    """

    message_id: list[str]
    kind: list[str]
    entity_id: list[str]
    event: list[str]
    ts: np.ndarray
    value: np.ndarray
    properties: list[dict[str, str]]
    metrics: list[dict[str, float]]
    traits: list[dict[str, str]]
    numeric_traits: list[dict[str, float]]
    account_id: list[str]
    entity_kind: list[str]
    field_prefix: str = "events"
    # True where `value` was sent; None: every NaN means "not given" (the Python API).
    # The wire converter sets it, so an explicit NaN is refused rather than read as 1.0.
    value_given: np.ndarray | None = None
    # (merged id, into id) identity merges the batch declares (alias, identify with an
    # anonymousId); applied before its events are stored, so every event lands on the
    # known entity whatever order the calls came in.
    merges: list[tuple[str, str]] = field(default_factory=list)
    # Kind of the entities this batch is the first to name ("" = the source default).
    new_entity_kind: str = ""

    def __len__(self) -> int:
        return len(self.message_id)


@dataclass
class IncomingEntity:
    """An entity upsert: attributes merge into what is stored (identify semantics)."""

    id: str
    kind: str = ""
    account_id: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    numeric_attributes: dict[str, float] = field(default_factory=dict)


def validate_events(events: IncomingEvents, limits: Limits, now: float | None = None) -> None:
    """Raises InvalidArgumentError naming every bad field (events[i].field).

    With `now` (stored events) an event more than limits.max_future_seconds after it is
    refused: a future-dated event would count at full weight until the clock reached it.
    """
    prefix = events.field_prefix
    if len(events) > limits.max_events_per_request:
        raise InvalidArgumentError.of(
            prefix, f"{len(events)} events exceed the limit {limits.max_events_per_request}"
        )

    def at(name: str) -> Callable[[int], str]:
        return lambda i: f"{prefix}[{i}].{name}"

    kinds = np.asarray(events.kind, dtype=object)
    # The kinds the batch uses (one C-level pass): each per-event check below is about
    # one kind, and is skipped (no numpy pass) when no event could break it.
    used = set(events.kind)
    violations = contract.required(events.message_id, at("message_id"), "required (dedupe key)")
    violations += contract.required(events.entity_id, at("entity_id"))
    if not used <= _KNOWN_KINDS:
        for i in np.flatnonzero(~np.isin(kinds, EVENT_KINDS)):
            violations.append(
                FieldViolation(f"{prefix}[{i}].kind", f"must be one of {', '.join(EVENT_KINDS)}")
            )
    if TRACK in used and "" in events.event:
        names = np.asarray(events.event, dtype=object)
        for i in np.flatnonzero((kinds == TRACK) & (names == "")):
            violations.append(FieldViolation(f"{prefix}[{i}].event", "required for track"))
    if GROUP in used and "" in events.account_id:
        accounts = np.asarray(events.account_id, dtype=object)
        for i in np.flatnonzero((kinds == GROUP) & (accounts == "")):
            violations.append(FieldViolation(f"{prefix}[{i}].account_id", "required for group"))
    for column, name, most in (
        (events.message_id, "message_id", limits.max_id_bytes),
        (events.entity_id, "entity_id", limits.max_id_bytes),
        (events.account_id, "account_id", limits.max_id_bytes),
    ):
        violations += contract.texts(column, at(name), most)
    violations += contract.names(events.event, at("event"), limits.max_name_bytes)
    violations += contract.names(events.entity_kind, at("entity_kind"), limits.max_name_bytes)
    violations += contract.finite(events.value, at("value"), events.value_given)
    latest = None if now is None else now + limits.max_future_seconds
    violations += contract.times(events.ts, at("time"), limits, latest)
    violations += contract.string_maps(events.properties, at("properties"), limits)
    violations += contract.string_maps(events.traits, at("traits"), limits)
    violations += contract.number_maps(events.metrics, at("metrics"), limits)
    violations += contract.number_maps(events.numeric_traits, at("numeric_traits"), limits)
    violations += _reused_message_ids(events)
    if violations:
        raise InvalidArgumentError(violations[: contract.MAX_VIOLATIONS])


def _reused_message_ids(events: IncomingEvents) -> list[FieldViolation]:
    """A message id names one event: reusing it for another entity in one batch is an error
    (a redelivery for the same entity is a duplicate, deduped on store)."""
    if len(set(events.message_id)) == len(events):  # the common case: one C-level pass
        return []
    mids = np.asarray(events.message_id, dtype=object)
    _, first, inverse = np.unique(mids.astype(str), return_index=True, return_inverse=True)
    if len(first) == len(mids):
        return []
    entity = np.asarray(events.entity_id, dtype=object)
    owner = first[inverse.ravel()]
    clash = np.flatnonzero((mids != "") & (entity != entity[owner]))
    prefix = events.field_prefix
    return [
        FieldViolation(
            f"{prefix}[{i}].message_id", f"reused by {prefix}[{owner[i]}] for another entity"
        )
        for i in clash[: contract.MAX_VIOLATIONS]
    ]


def validate_entities(
    entities: list[IncomingEntity], limits: Limits, prefix: str = "entities"
) -> None:
    """Raises InvalidArgumentError naming every bad field (entities[i].field)."""
    if not entities:  # most scoring calls send none: skip the dozen empty column passes
        return
    if len(entities) > limits.max_ids_per_request:
        raise InvalidArgumentError.of(
            prefix, f"{len(entities)} entities exceed the limit {limits.max_ids_per_request}"
        )

    def at(name: str) -> Callable[[int], str]:
        return lambda i: f"{prefix}[{i}].{name}"

    ids = [e.id for e in entities]
    violations = contract.required(ids, at("id"))
    violations += contract.texts(ids, at("id"), limits.max_id_bytes)
    violations += contract.texts([e.kind for e in entities], at("kind"), limits.max_name_bytes)
    violations += contract.texts(
        [e.account_id for e in entities], at("account_id"), limits.max_id_bytes
    )
    violations += contract.string_maps([e.attributes for e in entities], at("attributes"), limits)
    violations += contract.number_maps(
        [e.numeric_attributes for e in entities], at("numeric_attributes"), limits
    )
    if violations:
        raise InvalidArgumentError(violations[: contract.MAX_VIOLATIONS])


def taken(values: Sequence[T], rows: np.ndarray) -> list[T]:
    """values at positions `rows` (in that order), by a C-level map: no Python step
    per event."""
    return list(map(values.__getitem__, rows.tolist()))


def take_events(events: IncomingEvents, rows: np.ndarray) -> IncomingEvents:
    """The events at positions `rows` (in that order), as a batch of their own: with the
    batch's identity merges and its kind for new entities, which belong to the batch,
    not to any one event."""

    def some(column: list[Any]) -> list[Any]:
        return taken(column, rows)

    return IncomingEvents(
        message_id=some(events.message_id),
        kind=some(events.kind),
        entity_id=some(events.entity_id),
        event=some(events.event),
        ts=events.ts[rows],
        value=events.value[rows],
        properties=some(events.properties),
        metrics=some(events.metrics),
        traits=some(events.traits),
        numeric_traits=some(events.numeric_traits),
        account_id=some(events.account_id),
        entity_kind=some(events.entity_kind),
        field_prefix=events.field_prefix,
        value_given=None if events.value_given is None else events.value_given[rows],
        merges=events.merges,
        new_entity_kind=events.new_entity_kind,
    )


def sibling_field(prefix: str, name: str) -> str:
    """The field beside `prefix`: ("inline_events.events", "entities") gives
    "inline_events.entities"."""
    parent = prefix.rpartition(".")[0]
    return f"{parent}.{name}" if parent else name


def validate_ids(ids: Sequence[str], limits: Limits, field: str) -> None:
    """Stored entity ids of a request: each given, within max_id_bytes, no control
    characters, at most max_ids_per_request of them."""
    if len(ids) > limits.max_ids_per_request:
        raise InvalidArgumentError.of(
            field, f"{len(ids)} ids exceed the limit {limits.max_ids_per_request}"
        )

    def at(i: int) -> str:
        return f"{field}[{i}]"

    violations = contract.required(ids, at, "must not be empty")
    violations += contract.texts(ids, at, limits.max_id_bytes)
    if violations:
        raise InvalidArgumentError(violations[: contract.MAX_VIOLATIONS])


def properties_json(events: IncomingEvents) -> list[str]:
    """Merges string properties and numeric metrics into the stored JSON text per event."""
    encode = compact_json
    return [
        (encode({**props, **metrics}) if metrics else encode(props)) if props or metrics else "{}"
        for props, metrics in zip(events.properties, events.metrics, strict=True)
    ]


def trait_owners(events: IncomingEvents, kinds: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(positions of the identify and group messages, in the order sent; the entity each
    one's traits describe): an identify's traits are its own entity's, a group's are its
    account's. Ingest upserts them in this order (a later trait wins: json_patch), and
    inline scoring reads them the same way (handlers.inline_attributes)."""
    rows = np.flatnonzero((kinds == IDENTIFY) | (kinds == GROUP))
    entity = np.asarray(taken(events.entity_id, rows), dtype=object)
    account = np.asarray(taken(events.account_id, rows), dtype=object)
    return rows, np.where(kinds[rows] == GROUP, account, entity).tolist()


def entities_from_messages(
    events: IncomingEvents, kinds: np.ndarray, now: float, account_kind: str = "account"
) -> list[EntityRecord]:
    """identify → traits of the entity; group → the entity joins the account, whose traits
    are the group traits; each record carries its message's entity_kind (the kinds track
    events carry: tracked_entity_kinds)."""
    records: list[EntityRecord] = []
    rows, owners = trait_owners(events, kinds)
    for i, owner in zip(rows.tolist(), owners, strict=True):
        traits, numeric, kind = events.traits[i], events.numeric_traits[i], events.entity_kind[i]
        if events.kind[i] == GROUP:  # the member joins `owner`, which takes the traits
            records.append(EntityRecord(events.entity_id[i], kind, owner, {}, {}, now, now))
            records.append(EntityRecord(owner, account_kind, "", traits, numeric, now, now))
        else:
            records.append(EntityRecord(owner, kind, "", traits, numeric, now, now))
    return records


def tracked_entity_kinds(events: IncomingEvents, kinds: np.ndarray) -> tuple[list[str], list[str]]:
    """(entity ids, kinds) that track events carrying an entity_kind record: one pair per
    distinct (entity, kind), in order of first appearance (Store.set_entity_kinds)."""
    entity_kinds = np.asarray(events.entity_kind, dtype=object)
    tracked = np.flatnonzero((kinds == TRACK) & (entity_kinds != ""))
    ids = np.asarray(events.entity_id, dtype=object)[tracked].tolist()
    pairs = list(dict.fromkeys(zip(ids, entity_kinds[tracked].tolist(), strict=True)))
    return list(map(itemgetter(0), pairs)), list(map(itemgetter(1), pairs))  # C-level


def entity_record(entity: IncomingEntity, now: float) -> EntityRecord:
    return EntityRecord(
        entity.id,
        entity.kind,
        entity.account_id,
        entity.attributes,
        entity.numeric_attributes,
        now,
        now,
    )


def event_columns(
    events: IncomingEvents,
    rows: np.ndarray,
    entity_ids: list[str],
    profile: Profile,
    when: float,
) -> EventColumns:
    """Builds engine columns from inline track events (rows = their positions)."""
    position = {entity_id: i for i, entity_id in enumerate(entity_ids)}
    entity = np.fromiter((position[events.entity_id[i]] for i in rows), np.int64, len(rows))
    names = np.asarray([events.event[i] for i in rows], dtype=object)
    vocabulary, codes = (
        np.unique(names.astype(str), return_inverse=True)
        if len(rows)
        else (np.array([], dtype=str), np.array([], dtype=np.int64))
    )
    ts = np.where(np.isnan(events.ts[rows]), when, events.ts[rows])
    value = np.where(np.isnan(events.value[rows]), 1.0, events.value[rows])
    needs = profile_inputs(profile)
    strings = {}
    for prop in needs.string_properties:
        raw = np.asarray([events.properties[i].get(prop, "") for i in rows], dtype=str)
        vocab, inverse = np.unique(raw, return_inverse=True)
        codes_prop = inverse.astype(np.int32)
        if len(vocab) and vocab[0] == "":
            codes_prop -= 1  # "" sorts first: it means missing (-1)
            vocab = vocab[1:]
        strings[prop] = CategoricalColumn(codes_prop, tuple(str(v) for v in vocab))
    numbers = {
        prop: np.asarray([events.metrics[i].get(prop, np.nan) for i in rows], dtype=np.float64)
        for prop in needs.numeric_properties
    }
    return EventColumns(
        entity=entity,
        event_type=codes.astype(np.int32),
        ts=ts,
        value=value,
        event_types=tuple(str(v) for v in vocabulary),
        strings=strings,
        numbers=numbers,
    )


def select_feature_columns(
    matrix: np.ndarray, columns: list[str], profile: Profile, field: str
) -> np.ndarray:
    """Reorders named feature columns into the profile's signal order (extras ignored).
    `field`: the request's matrix field, whose `columns` a violation names."""
    if len(columns) != matrix.shape[1]:
        raise InvalidArgumentError.of(
            f"{field}.columns", f"{len(columns)} names for {matrix.shape[1]} columns"
        )
    position = {name: i for i, name in enumerate(columns)}
    absent = [name for name in profile.signal_names if name not in position]
    if absent:
        raise InvalidArgumentError.of(f"{field}.columns", f"missing signal {absent[0]!r}")
    return matrix[:, [position[name] for name in profile.signal_names]]
