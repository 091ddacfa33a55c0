"""The same events as the service ingests, written as a lake dataset (Parquet partitions).

Test-side conversion, one event at a time (a few thousand): the code under test is the
Parquet reading, not this. Entities are partitioned by account (an account with its
members), so rollups stay inside one partition as the lake runner requires.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from prioscore.server.engine import profile_inputs
from prioscore.server.profiles import ProfileRegistry
from prioscore.v1 import types_pb2
from tests.conftest import PROFILES


def _seconds(event: types_pb2.Event) -> float:
    return event.time.seconds + event.time.nanos / 1e9


def write_lake(
    events: Iterable[types_pb2.Event],
    root: Path,
    partitions: int = 3,
    outcomes: Iterable[types_pb2.Outcome] = (),
) -> Path:
    """root/events/part-K.parquet and root/entities/part-K.parquet (and root/outcomes/
    when outcomes are given), partitioned by account; returns root."""
    tracks: list[dict[str, Any]] = []
    entities: dict[str, dict[str, Any]] = defaultdict(dict)
    for event in events:
        entity = entities[event.entity_id]
        if event.entity_kind:
            entity["kind"] = event.entity_kind
        if event.kind == types_pb2.EVENT_KIND_IDENTIFY:
            entity.update(event.traits)
            entity.update({k: float(v) for k, v in event.numeric_traits.items()})
        elif event.kind == types_pb2.EVENT_KIND_GROUP:
            entity["account_id"] = event.account_id
            entities[event.account_id].setdefault("kind", "")
        else:
            row: dict[str, Any] = {
                "entity_id": event.entity_id,
                "event": event.event,
                "ts": _seconds(event),
                "value": event.value if event.HasField("value") else None,
            }
            row.update(event.properties)
            row.update({k: float(v) for k, v in event.metrics.items()})
            tracks.append(row)

    def partition(entity_id: str) -> int:
        key = entities[entity_id].get("account_id") or entity_id
        return zlib.crc32(key.encode()) % partitions

    by_part_events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in tracks:
        by_part_events[partition(row["entity_id"])].append(row)
    by_part_entities: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for entity_id, fields in entities.items():
        by_part_entities[partition(entity_id)].append({"id": entity_id, **fields})
    by_part_outcomes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for outcome in outcomes:
        time = outcome.outcome_time.seconds + outcome.outcome_time.nanos / 1e9
        row = {"entity_id": outcome.entity_id, "label": outcome.label, "time": time}
        by_part_outcomes[partition(outcome.entity_id)].append(row)
    if by_part_outcomes:
        (root / "outcomes").mkdir(parents=True)
        for k, rows in by_part_outcomes.items():
            columns = {c: [r[c] for r in rows] for c in ("entity_id", "label", "time")}
            pq.write_table(pa.table(columns), root / "outcomes" / f"part-{k}.parquet")
    # Every property a bundled profile reads is a column (null where absent), as in an
    # export of a whole event schema: the lake refuses a missing column as a typo.
    event_columns = sorted({k for row in tracks for k in row} | _READ_STRINGS | _READ_NUMBERS)
    entity_columns = sorted({k for rows in by_part_entities.values() for r in rows for k in r})
    for folder, parts, columns in (
        ("events", by_part_events, event_columns),
        ("entities", by_part_entities, entity_columns),
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
        every = [r for rows in parts.values() for r in rows]
        types = {c: _type(c, [r.get(c) for r in every]) for c in columns}
        for k in range(partitions):
            rows = parts.get(k, [])
            values = {c: [r.get(c) for r in rows] for c in columns}
            table = pa.table({c: pa.array(values[c], types[c]) for c in columns})
            pq.write_table(table, root / folder / f"part-{k}.parquet")
    return root


def _read_properties() -> tuple[set[str], set[str]]:
    needs = [profile_inputs(p) for p in ProfileRegistry.from_directory(PROFILES).all()]
    return (
        {s for n in needs for s in n.string_properties},
        {s for n in needs for s in n.numeric_properties},
    )


_READ_STRINGS, _READ_NUMBERS = _read_properties()


def _type(column: str, values: list[Any]) -> pa.DataType:
    numeric = column in ("ts", "value") or column in _READ_NUMBERS
    if numeric or any(isinstance(v, float) for v in values):
        return pa.float64()
    return pa.string()
