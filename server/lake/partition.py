"""What a worker does with one partition: read it, score it with the shared scoring
pipeline, write its Parquet part. Plain functions of picklable arguments, so any
distributed engine can run them (dask.distributed here; Ray's `ray.remote` or Spark's
`mapInArrow` would call the same functions).

A worker holds one partition at a time: its columns, the feature matrix and the result
of its entities; nothing survives the task but what it returns (a few numbers, and the
entity ids for the driver's partition check).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prioscore.server.engine import Profile, Tiers
from prioscore.server.lake.columns import read_partition
from prioscore.server.lake.dataset import Partition
from prioscore.server.lake.related import related_rows
from prioscore.server.scoring import RelatedInputs, Scored, retier, score_loaded, score_rows

# The scores table's columns (store/schema.py), in its order: the output is what the
# service would have stored for the same events, profile and as_of.
OUTPUT_SCHEMA = pa.schema(
    [
        ("entity_id", pa.string()),
        ("profile", pa.string()),
        ("profile_version", pa.int64()),
        ("score", pa.float64()),
        ("engagement", pa.float64()),
        ("fit", pa.float64()),
        ("tier", pa.string()),
        ("disqualified", pa.bool_()),
        ("reasons", pa.string()),
        ("updated", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Job:
    """Everything a task needs besides its partition (sent once per task; small)."""

    profile: Profile
    as_of: float
    top_reasons: int
    reads: tuple[Profile, ...] = ()  # profiles whose scores it reads, in reading order
    tiers: Tiers | None = None  # absolute cuts from the population pass (quantile tiers)
    out_dir: Path | None = None


@dataclass(frozen=True)
class PartResult:
    """What a task returns to the driver."""

    name: str
    entities: int
    events: int
    bytes_read: int
    peak_bytes: int  # the worker process's peak resident set after the task
    cpu_seconds: float  # CPU time of the task's process (all its threads) during the task
    entity_ids: pa.Array
    eligible_scores: np.ndarray | None = None


def _scored(job: Job, part: Partition) -> tuple[Scored, int, int]:
    """The job's profile on one partition, after the profiles it reads (no explanations
    for those: only their scores are read)."""
    done: dict[str, Scored] = {}
    events = read = 0
    for profile in (*job.reads, job.profile):
        inputs = read_partition(part, profile, job.as_of)
        related = RelatedInputs(inputs.members, related_rows(profile, inputs, done))
        explain = profile is job.profile and job.top_reasons > 0
        done[profile.name] = score_loaded(
            profile,
            inputs.entity_ids,
            inputs.events,
            inputs.attributes,
            related,
            job.as_of,
            explain=explain,
            top_reasons=job.top_reasons if explain else 0,
        )
        events, read = len(inputs.events), max(read, inputs.bytes_read)
    return done[job.profile.name], events, read


def _peak_rss() -> int:
    """Peak resident set of this process in bytes: VmHWM, which starts afresh in a new
    process image (getrusage's maxrss survives exec, so a spawned worker would report its
    parent's peak); 0 where /proc is absent."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def eligible_scores(job: Job, part: Partition) -> PartResult:
    """Population pass of quantile tiers: the partition's eligible scores only."""
    cpu = time.process_time()
    scored, n_events, read = _scored(job, part)
    result = scored.result
    ids = pa.array(scored.entity_ids, pa.string())
    used = time.process_time() - cpu
    eligible = result.score[~result.disqualified]
    return PartResult(part.name, len(ids), n_events, read, _peak_rss(), used, ids, eligible)


def write_part(job: Job, part: Partition) -> PartResult:
    """Scores the partition and writes `<out_dir>/<partition name>` (scores table columns)."""
    if job.out_dir is None:
        raise ValueError("write_part needs job.out_dir")
    cpu = time.process_time()
    scored, n_events, read = _scored(job, part)
    if job.tiers is not None:
        retier(scored, job.tiers)
    rows = score_rows(scored, job.as_of)
    n = len(rows)
    ids = pa.array(rows.entity_id, pa.string())
    table = pa.Table.from_arrays(
        [
            ids,
            pa.array(np.full(n, job.profile.name, dtype=object), pa.string()),
            pa.array(np.full(n, job.profile.version, dtype=np.int64)),
            pa.array(rows.score),
            pa.array(rows.engagement),
            pa.array(rows.fit),
            pa.array(rows.tier, pa.string()),
            pa.array(rows.disqualified),
            pa.array(rows.reasons, pa.string()),
            pa.array(np.full(n, job.as_of)),
        ],
        schema=OUTPUT_SCHEMA,
    )
    target = job.out_dir / part.name
    pq.write_table(table, f"{target}.{os.getpid()}.tmp")
    os.replace(f"{target}.{os.getpid()}.tmp", target)
    used = time.process_time() - cpu
    return PartResult(part.name, n, n_events, read, _peak_rss(), used, ids)


__all__ = ["OUTPUT_SCHEMA", "Job", "PartResult", "eligible_scores", "write_part"]
