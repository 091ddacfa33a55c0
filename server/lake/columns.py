"""One Parquet partition -> the engine's inputs, as the stored scorer would load them.

Mirrors what the service reads from SQLite, column for column: the population is the
partition's entities of the profile's kind or of unknown kind (an entity seen only in
events has unknown kind, as ingest creates it); events after `as_of` or of types the
profile ignores are dropped; value null/NaN reads as 1.0; string properties keep "" as a
value, attributes treat "" as missing; members' events are rolled up by the same
scoring.roll_up the service uses. Every step is a pyarrow compute kernel or numpy:
nothing runs per event or per entity in Python (only per distinct property value, to
build vocabularies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prioscore.server.engine import AttributeColumns, CategoricalColumn, EventColumns, Profile
from prioscore.server.lake.dataset import Columns, Partition, needed_columns
from prioscore.server.scoring import Members, roll_up


@dataclass
class PartitionInputs:
    """A partition's population and everything the engine reads about it."""

    entity_ids: list[str]
    events: EventColumns
    attributes: AttributeColumns
    members: Members | None
    population: pa.Array  # entity_ids as arrow, for joins
    entities: pa.Table  # the partition's entity rows, the columns read
    bytes_read: int  # arrow bytes of the columns read (what a worker holds at peak)


def seconds(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Epoch seconds as float64 from a number or a timestamp column."""
    if pa.types.is_timestamp(column.type):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[column.type.unit]
        ticks = pc.cast(column, pa.timestamp(column.type.unit)).cast(pa.int64())
        return pc.divide(pc.cast(ticks, pa.float64()), float(per_second))
    return pc.cast(column, pa.float64())


def codes_of(column: pa.ChunkedArray, blank_is_missing: bool) -> CategoricalColumn:
    """Dictionary codes (-1 = null, and "" too when blank_is_missing)."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    vocabulary = encoded.dictionary.to_pylist()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
    if blank_is_missing and "" in vocabulary:
        codes[codes == vocabulary.index("")] = -1
    return CategoricalColumn(codes, tuple(vocabulary))


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), np.float64)


def _entities(part: Partition, cols: Columns) -> pa.Table:
    wanted = ["id", "kind", "account_id", *cols.categorical_attributes, *cols.member_attributes]
    wanted += cols.numeric_attributes
    if part.entities is None:
        empty = {c: pa.array([], pa.string()) for c in wanted}
        empty |= {c: pa.array([], pa.float64()) for c in cols.numeric_attributes}
        return pa.table(empty)
    present = pq.read_schema(part.entities).names
    columns = [c for c in dict.fromkeys(wanted) if c in present]
    return pq.read_table(part.entities, columns=columns)


def _events(part: Partition, profile: Profile, cols: Columns, as_of: float) -> pa.Table:
    if part.events is None:
        return pa.table({"entity_id": pa.array([], pa.string())})
    present = pq.read_schema(part.events).names
    wanted = ["entity_id", "event", "ts", "value", *cols.string_properties]
    wanted += cols.numeric_properties
    table = pq.read_table(part.events, columns=[c for c in wanted if c in present])
    ts = seconds(table["ts"])
    keep = pc.and_(
        pc.is_in(table["event"], value_set=pa.array(sorted(profile.event_types), pa.string())),
        pc.less_equal(ts, as_of),
    )
    table = table.set_column(table.schema.get_field_index("ts"), "ts", ts)
    return table.filter(pc.fill_null(keep, False))


def _kinds(entities: pa.Table) -> pa.ChunkedArray:
    if "kind" in entities.column_names:
        return pc.fill_null(entities["kind"], "")
    return pa.chunked_array([pa.nulls(entities.num_rows, pa.string()).fill_null("")])


def _population(
    profile: Profile, entities: pa.Table, kinds: pa.ChunkedArray, events: pa.Table
) -> pa.Array:
    """Entities of the profile's kind or of unknown kind, and ids seen only in events."""
    scored_kind = pc.is_in(kinds, value_set=pa.array(sorted({profile.entity, ""})))
    unlisted = pc.invert(pc.is_in(events["entity_id"], value_set=entities["id"]))
    ids = [*entities["id"].filter(scored_kind).chunks, *events["entity_id"].filter(unlisted).chunks]
    return pc.unique(pa.chunked_array(ids, pa.string())).sort()


def _members(
    profile: Profile, entities: pa.Table, kinds: pa.ChunkedArray, population: pa.Array
) -> tuple[list[str], np.ndarray]:
    """The rollup's members (entities of the members kind whose account is scored here),
    by account then id, and the position of each one's account."""
    of_kind = entities.filter(pc.equal(kinds, profile.members))
    mine = of_kind.filter(pc.is_in(of_kind["account_id"], value_set=population))
    mine = mine.sort_by([("account_id", "ascending"), ("id", "ascending")])
    owner = pc.index_in(mine["account_id"], value_set=population).to_numpy()
    return mine["id"].to_pylist(), np.asarray(owner, dtype=np.int64)


def _event_columns(
    events: pa.Table, axis: pa.Array, profile: Profile, cols: Columns
) -> EventColumns:
    """The events of entities on `axis` as the engine's columns (others dropped)."""
    position = pc.index_in(events["entity_id"], value_set=axis)
    events = events.filter(pc.is_valid(position))
    position = position.filter(pc.is_valid(position))
    event_types = tuple(sorted(profile.event_types))
    event_type = pc.index_in(events["event"], value_set=pa.array(event_types, pa.string()))
    return EventColumns(
        entity=np.asarray(position.to_numpy(zero_copy_only=False), np.int64),
        event_type=np.asarray(event_type.to_numpy(zero_copy_only=False), np.int32),
        ts=_floats(events["ts"]),
        value=_value(events),
        event_types=event_types,
        strings={p: codes_of(events[p], blank_is_missing=False) for p in cols.string_properties},
        numbers={p: _floats(events[p]) for p in cols.numeric_properties},
    )


def read_partition(
    part: Partition, profile: Profile, as_of: float, population: pa.Array | None = None
) -> PartitionInputs:
    """The engine's inputs for one partition, on the axis of its sorted population (or of
    `population` when given: the entities of outcomes), without events after as_of."""
    cols = needed_columns(profile)
    entities = _entities(part, cols)
    events = _events(part, profile, cols, as_of)
    kinds = _kinds(entities)
    if population is None:
        population = _population(profile, entities, kinds, events)
    members: Members | None = None
    if profile.members:
        member_ids, owner = _members(profile, entities, kinds, population)
        axis = pa.concat_arrays([population, pa.array(member_ids, pa.string())])
        rolled = _event_columns(events, axis, profile, cols)
        columns, members = roll_up(rolled, len(population), member_ids, owner)
    else:
        columns = _event_columns(events, population, profile, cols)
    attributes = _attributes(entities, population, cols)
    read = entities.nbytes + events.nbytes
    return PartitionInputs(
        population.to_pylist(), columns, attributes, members, population, entities, read
    )


def _value(events: pa.Table) -> np.ndarray:
    if "value" not in events.column_names:
        return np.ones(events.num_rows)
    value = _floats(events["value"])
    return np.where(np.isnan(value), 1.0, value)  # arrow's buffer is read-only


def _attributes(entities: pa.Table, population: pa.Array, cols: Columns) -> AttributeColumns:
    """Attribute columns on the population's axis (missing where an entity has no row)."""
    row = pc.index_in(population, value_set=entities["id"])
    found = pc.is_valid(row).to_numpy(zero_copy_only=False)
    take = pc.fill_null(row, 0).to_numpy(zero_copy_only=False)
    out: dict[str, np.ndarray | CategoricalColumn] = {}
    for name in cols.categorical_attributes:
        column = codes_of(entities[name], blank_is_missing=True)
        codes = column.codes[take] if entities.num_rows else np.full(len(take), -1)
        out[name] = CategoricalColumn(
            np.where(found, codes, -1).astype(np.int32), column.vocabulary
        )
    for name in cols.numeric_attributes:
        values = _floats(entities[name])
        picked = values[take] if entities.num_rows else np.full(len(take), np.nan)
        out[name] = np.where(found, picked, np.nan)
    return out


__all__ = ["PartitionInputs", "read_partition"]
