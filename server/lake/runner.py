"""The driver of a lake scoring job: check, (population pass,) score and write, verify,
publish.

Quantile tiers are relative to the whole population, which no partition sees alone: a
first pass returns every partition's eligible scores (8 bytes an entity), the driver cuts
the quantiles once, and the writing pass tiers by those absolute cuts, exactly as the
service cuts them over every stored score. The first pass recomputes rather than keeps
results on the workers, so a worker still holds one partition at a time.

Output is a directory of Parquet parts (one per partition), written under a temporary
name beside `out` and renamed only once every part is written and no entity was found in
two partitions: a failed or refused run leaves nothing at `out`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prioscore.server.engine import Population, Profile, TierMode
from prioscore.server.lake.cluster import Executor
from prioscore.server.lake.dataset import (
    LakeInputError,
    Partition,
    check,
    discover,
    reading_order,
)
from prioscore.server.lake.partition import Job, PartResult, eligible_scores, write_part
from prioscore.server.scoring import population_tiers


@dataclass(frozen=True)
class LakeReport:
    """What a run did: sizes, time, and the largest partition a worker held."""

    partitions: int
    entities: int
    events: int
    seconds: float
    workers: int
    max_partition_bytes: int  # arrow bytes of the largest partition's columns read
    max_worker_rss: int  # the largest peak resident set reported by a worker process
    cpu_seconds: float  # CPU time of every task, both passes, all worker processes


def _duplicates(results: list[PartResult]) -> None:
    """Refuses a dataset where an entity lies in two partitions: each would be scored on
    part of its events, and the service's score would be neither."""
    if not results:
        return
    ids = pa.chunked_array([r.entity_ids for r in results], pa.string())
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    if len(repeated):
        first = repeated[0].as_py()
        where = [r.name for r in results if pc.any(pc.equal(r.entity_ids, first)).as_py()]
        raise LakeInputError(
            [
                f"--events: {len(repeated)} entities lie in more than one partition, e.g."
                f" {first!r} in {', '.join(where)}: partition events and entities by"
                " account (or by entity), each in one file"
            ]
        )


def score_lake(
    profile: Profile,
    events: Path,
    entities: Path | None,
    as_of: float,
    out: Path,
    executor: Executor,
    *,
    profiles: Mapping[str, Profile] | None = None,
    top_reasons: int = 3,
) -> LakeReport:
    """Scores every partition under `profile` as of `as_of` into the directory `out`;
    `profiles` (by name) holds the profiles its score signals read."""
    started = time.perf_counter()
    if out.exists():
        raise LakeInputError([f"--out {out}: already exists; choose a new path"])
    if not out.parent.is_dir():
        raise LakeInputError([f"--out {out}: parent directory does not exist"])
    order = reading_order(profile, profiles or {})
    partitions: list[Partition] = discover(events, entities)
    check(partitions, order, entities is not None)
    job = Job(profile, as_of, top_reasons, reads=order[:-1])
    counted: list[PartResult] = []
    if profile.tiers.mode == TierMode.QUANTILE:
        counted = executor.map(eligible_scores, job, partitions)
        _duplicates(counted)
        scores = [r.eligible_scores for r in counted if r.eligible_scores is not None]
        population = Population.of(np.concatenate(scores) if scores else np.empty(0))
        cuts = population_tiers(profile.tiers, population)
        job = replace(job, tiers=None if cuts is profile.tiers else cuts)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        written = executor.map(write_part, replace(job, out_dir=staging), partitions)
        _duplicates(written)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return LakeReport(
        partitions=len(partitions),
        entities=sum(r.entities for r in written),
        events=sum(r.events for r in written),
        seconds=time.perf_counter() - started,
        workers=executor.workers,
        max_partition_bytes=max((r.bytes_read for r in written), default=0),
        max_worker_rss=max((r.peak_bytes for r in written + counted), default=0),
        cpu_seconds=sum(r.cpu_seconds for r in written + counted),
    )


__all__ = ["LakeReport", "score_lake"]
