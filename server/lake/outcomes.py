"""Backtest and calibration over Parquet outcomes: point-in-time features in parallel,
the fit on the driver.

`--outcomes DIR` holds the outcomes of the same partitions under the same file names:
`entity_id` (string, each entity once), `label` (bool or 0/1) and `time` (the outcome's
time, epoch seconds or a timestamp). Each worker computes its partition's features as
they stood `horizon_days` before each entity's own outcome (engine
features_as_of_outcomes, members rolled up), exactly as the service's Backtest and
Calibrate do; score signals read their `missing` value there too (the service's stored
scores are current, not historical). The driver stacks the partitions' features and
attributes (8 bytes a signal an outcome) and runs the engine's backtest or fit once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prioscore.server.engine import (
    AttributeColumns,
    CategoricalColumn,
    FeatureSet,
    Profile,
    features_as_of_outcomes,
)
from prioscore.server.lake.columns import read_partition, seconds
from prioscore.server.lake.dataset import LakeInputError, Partition


@dataclass(frozen=True)
class OutcomeJob:
    profile: Profile
    horizon_days: float


@dataclass(frozen=True)
class OutcomePart:
    """One partition's outcomes with their point-in-time features and attributes."""

    name: str
    entity_ids: pa.Array
    labels: np.ndarray  # float64 0/1
    features: FeatureSet
    attributes: AttributeColumns


def _read_outcomes(path: Path) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    table = pq.read_table(path, columns=["entity_id", "label", "time"])
    problems = []
    for column in ("entity_id", "label", "time"):
        nulls = table[column].null_count
        if nulls:
            problems.append(f"{path}: column '{column}': {nulls} null values")
    labels = pc.cast(table["label"], pa.int64())
    if not problems and not pc.all(pc.is_in(labels, value_set=pa.array([0, 1]))).as_py():
        problems.append(f"{path}: column 'label': values must be 0/1 or true/false")
    ids = table["entity_id"].combine_chunks()
    if len(pc.unique(ids)) != len(ids):
        problems.append(f"{path}: column 'entity_id': an entity has more than one outcome")
    times = seconds(table["time"]).to_numpy()
    if not problems and not np.isfinite(times).all():
        problems.append(f"{path}: column 'time': must be finite")
    if problems:
        raise LakeInputError(problems)
    return ids, labels.to_numpy().astype(np.float64), times


def outcome_features(job: OutcomeJob, part: Partition) -> OutcomePart:
    """Point-in-time features of one partition's outcome entities (in file order)."""
    if part.outcomes is None:
        raise ValueError("outcome_features needs a partition with outcomes")
    ids, labels, times = _read_outcomes(part.outcomes)
    cutoff = float(times.max()) if times.size else 0.0
    inputs = read_partition(part, job.profile, cutoff, population=ids)
    features = features_as_of_outcomes(
        job.profile, inputs.events, len(ids), times, job.horizon_days
    )
    return OutcomePart(part.name, ids, labels, features, inputs.attributes)


def _stack_categorical(columns: list[CategoricalColumn]) -> CategoricalColumn:
    """One column over every partition: codes remapped into the union vocabulary."""
    vocabulary = np.array(sorted({v for c in columns for v in c.vocabulary}), dtype=object)
    codes = []
    for column in columns:
        remap = np.searchsorted(vocabulary, np.array(column.vocabulary, dtype=object))
        remap = np.asarray(remap, dtype=np.int32)
        mapped = remap[np.maximum(column.codes, 0)] if remap.size else column.codes
        codes.append(np.where(column.codes >= 0, mapped, -1).astype(np.int32))
    return CategoricalColumn(np.concatenate(codes), tuple(vocabulary.tolist()))


@dataclass(frozen=True)
class Stacked:
    """Every partition's outcomes as one population, for the engine's fit or backtest."""

    entity_ids: pa.ChunkedArray
    labels: np.ndarray
    features: FeatureSet
    attributes: AttributeColumns


def stack(parts: list[OutcomePart]) -> Stacked:
    if not parts or sum(len(p.entity_ids) for p in parts) == 0:
        raise LakeInputError(["--outcomes: no outcomes in any partition"])
    ids = pa.chunked_array([p.entity_ids for p in parts], pa.string())
    if len(pc.unique(ids)) != len(ids):
        raise LakeInputError(["--outcomes: an entity has outcomes in two partitions"])
    matrix = np.asfortranarray(np.concatenate([p.features.matrix for p in parts]))
    eliminated = np.concatenate([p.features.eliminated_by for p in parts])
    attributes: dict[str, np.ndarray | CategoricalColumn] = {}
    for name, first in parts[0].attributes.items():
        if isinstance(first, CategoricalColumn):
            columns = [p.attributes[name] for p in parts]
            attributes[name] = _stack_categorical(
                [c for c in columns if isinstance(c, CategoricalColumn)]
            )
        else:
            attributes[name] = np.concatenate([np.asarray(p.attributes[name]) for p in parts])
    labels = np.concatenate([p.labels for p in parts])
    return Stacked(ids, labels, FeatureSet(matrix, eliminated), attributes)


__all__ = ["OutcomeJob", "OutcomePart", "Stacked", "outcome_features", "stack"]
