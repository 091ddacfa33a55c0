"""The engine at lake scale: a profile over Parquet event partitions, scored inside the
workers of a distributed engine (dask.distributed), with the same numbers as the service.

A layer above scoring: it reads Parquet instead of the store and shares the scoring
pipeline (scoring.score_loaded, roll_up, population_tiers, score_rows) with it. Rollups
and score signals stay inside a partition (partition by account); the profiles a
profile's score signals read are scored first, in the same task, at the same as_of.
"""

from prioscore.server.lake.cli import main, parse_as_of
from prioscore.server.lake.cluster import Dask, Executor, Inline, executor
from prioscore.server.lake.dataset import LakeInputError, Partition, discover
from prioscore.server.lake.partition import OUTPUT_SCHEMA
from prioscore.server.lake.runner import LakeReport, score_lake

__all__ = [
    "OUTPUT_SCHEMA",
    "Dask",
    "Executor",
    "Inline",
    "LakeInputError",
    "LakeReport",
    "Partition",
    "discover",
    "executor",
    "main",
    "parse_as_of",
    "score_lake",
]
