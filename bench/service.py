"""Benchmark: the gRPC service end to end, each figure against its anchor in the same run.

    .venv/bin/python bench/service.py [--only P3,P3c,P4,P5,P6,S2] [--quick] [--profile-server DIR]

Runs every service figure group in turn, as `make bench` does; each group is also a
script of its own with the same flags (the figures are described there):
  bench/service_latency.py  P3 (unary p50 / p99 vs echo), P3c (RPS at 32 in flight vs echo)
  bench/service_stream.py   P4 (StreamScores entities/s, vs an echo bidi stream)
  bench/service_ingest.py   P5 (IngestEvents vs sqlite3 executemany)
  bench/service_watch.py    P6 (event -> tier change latency under background ingest)
  bench/service_heavy.py    S2 (stored ScoreEntities p99 and health checks during heavy work)
Servers, synthetic events and the command line: bench/_service_common.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import service_heavy
import service_ingest
import service_latency
import service_stream
import service_watch
from _service_common import main

GROUPS = [
    service_latency.GROUP,
    service_stream.GROUP,
    service_ingest.GROUP,
    service_watch.GROUP,
    service_heavy.GROUP,
]

if __name__ == "__main__":
    main("bench/service.py", __doc__ or "", GROUPS)
