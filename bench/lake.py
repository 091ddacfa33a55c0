"""Benchmark D1: bulk scoring over Parquet on dask.distributed, 1 vs 2 workers vs the
single-process engine, with bytes per worker; anchors measured in the same run.

    .venv/bin/python bench/lake.py [--events 10000000] [--entities 1000000] [--partitions 8]

The profile is the bundled lead_qualification (categories, matches, decays, windows,
recency, density, fit, disqualify), the data synthetic: M events over N entities with
url / form / clicks properties and four attributes, partitioned by entity into P Parquet
files (plus the entities' files). Figures, each a ratio to the anchor of this run:
  anchor  weighted np.bincount of M events into N bins (median of 5)
  engine  compute_features + score (top-3 reasons) on in-memory arrays, one process
  inline  the lake runner in this process: Parquet read + engine + encode + write
  w1, w2  the same on a LocalCluster of 1 and 2 single-threaded worker processes
          (cluster start-up reported apart); D1 = w2 / w1 speedup, bytes per worker =
          the largest partition's arrow columns and the largest worker peak RSS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prioscore.server.engine import (
    CategoricalColumn,
    EventColumns,
    Profile,
    compute_features,
    score,
)
from prioscore.server.lake import executor, score_lake
from prioscore.server.profiles import ProfileRegistry

ROOT = Path(__file__).resolve().parent.parent
AS_OF = 1_750_000_000.0
DAY = 86_400.0
URLS = ("/pricing", "/demo", "/blog/a", "/docs/api", "/careers", "/case-studies/x", "/", "/jobs")
FORMS = ("", "demo_request", "contact_sales", "newsletter")
SENIORITY = ("", "ic", "manager", "director", "vp", "c_level")
INDUSTRY = ("", "software", "finance", "retail", "health")
RELATIONSHIP = ("", "prospect", "customer", "partner", "competitor")


def synthesize(n: int, m: int, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    profile = ProfileRegistry.from_directory(ROOT / "profiles").get("lead_qualification")
    assert profile is not None
    types = np.array(sorted(profile.event_types))
    clicks = rng.poisson(3, m).astype(np.float64)
    clicks[rng.random(m) < 0.5] = np.nan
    return {
        "entity": np.sort(rng.integers(0, n, m)),
        "type": rng.integers(0, len(types), m).astype(np.int32),
        "ts": AS_OF - rng.exponential(40 * DAY, m),
        "value": rng.exponential(30.0, m),
        "url": rng.integers(0, len(URLS), m).astype(np.int32),
        "form": rng.integers(0, len(FORMS), m).astype(np.int32),
        "clicks": clicks,
        "types": types,
        "seniority": rng.integers(0, len(SENIORITY), n).astype(np.int32),
        "industry": rng.integers(0, len(INDUSTRY), n).astype(np.int32),
        "relationship": rng.choice(len(RELATIONSHIP), n, p=[0.3, 0.5, 0.1, 0.05, 0.05]),
        "employees": rng.lognormal(4, 1.5, n),
    }


def _strings(codes: np.ndarray, vocabulary: tuple[str, ...] | np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(codes.astype(np.int32), pa.array(list(vocabulary))).cast(
        pa.string()
    )


def write_dataset(data: dict[str, np.ndarray], n: int, parts: int, root: Path) -> int:
    """P files each of events and entities, partitioned by entity index % P; bytes on disk."""
    ids = np.char.mod("e%07d", np.arange(n))
    (root / "events").mkdir(parents=True)
    (root / "entities").mkdir()
    for k in range(parts):
        rows = np.flatnonzero(data["entity"] % parts == k)
        own = np.arange(k, n, parts)
        events = pa.table(
            {
                "entity_id": pa.array(ids[data["entity"][rows]]),
                "event": _strings(data["type"][rows], data["types"]),
                "ts": data["ts"][rows],
                "value": data["value"][rows],
                "url": _strings(data["url"][rows], URLS),
                "form": _strings(data["form"][rows], FORMS),
                "clicks": data["clicks"][rows],
            }
        )
        pq.write_table(events, root / "events" / f"part-{k:03d}.parquet")
        entities = pa.table(
            {
                "id": pa.array(ids[own]),
                "kind": pa.array(np.full(own.size, "contact")),
                "seniority": _strings(data["seniority"][own], SENIORITY),
                "industry": _strings(data["industry"][own], INDUSTRY),
                "relationship": _strings(data["relationship"][own], RELATIONSHIP),
                "employees": data["employees"][own],
            }
        )
        pq.write_table(entities, root / "entities" / f"part-{k:03d}.parquet")
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def engine_inputs(
    data: dict[str, np.ndarray], n: int
) -> tuple[EventColumns, dict[str, np.ndarray | CategoricalColumn]]:
    events = EventColumns(
        entity=data["entity"].astype(np.int64),
        event_type=data["type"],
        ts=data["ts"],
        value=data["value"],
        event_types=tuple(data["types"].tolist()),
        strings={
            "url": CategoricalColumn(data["url"], URLS),
            "form": CategoricalColumn(data["form"], FORMS),
        },
        numbers={"clicks": data["clicks"]},
    )
    blank = {"seniority": SENIORITY, "industry": INDUSTRY, "relationship": RELATIONSHIP}
    attrs: dict[str, np.ndarray | CategoricalColumn] = {
        name: CategoricalColumn(np.where(data[name] == 0, -1, data[name]).astype(np.int32), vocab)
        for name, vocab in blank.items()
    }
    attrs["employees"] = data["employees"]
    return events, attrs


def engine_seconds(profile: Profile, data: dict[str, np.ndarray], n: int) -> float:
    """The engine alone on in-memory arrays: features, scores, top-3 reasons."""
    events, attrs = engine_inputs(data, n)

    def engine() -> None:
        features = compute_features(profile, events, n, AS_OF)
        score(profile, features, attrs, explain=True, top_reasons=3)

    return timed(engine, 1)


def timed(fn: Callable[[], object], repeats: int = 1) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    n, m = args.entities, args.events
    profile = ProfileRegistry.from_directory(ROOT / "profiles").get("lead_qualification")
    assert profile is not None
    data = synthesize(n, m)
    with tempfile.TemporaryDirectory(prefix="prioscore-lake-bench-") as tmp:
        root = Path(tmp)
        disk = write_dataset(data, n, args.partitions, root / "lake")
        print(
            f"dataset: {m:,} events, {n:,} entities, {args.partitions} partitions, "
            f"{disk / 1e6:.0f} MB Parquet",
            flush=True,
        )
        weights = data["value"]
        entity = data["entity"]
        anchor = timed(lambda: np.bincount(entity, weights=weights, minlength=n), 5)
        engine_s = engine_seconds(profile, data, n)
        del data
        figures = {"engine": engine_s}
        memory: dict[str, tuple[int, int]] = {}
        cpu: dict[str, float] = {}
        for spec, label in (("inline", "inline"), ("local[1]", "w1"), ("local[2]", "w2")):
            started = time.perf_counter()
            with executor(spec) as runner:
                startup = time.perf_counter() - started
                out = root / f"out-{label}"
                report = score_lake(
                    profile,
                    root / "lake" / "events",
                    root / "lake" / "entities",
                    AS_OF,
                    out,
                    runner,
                )
            figures[label] = report.seconds
            memory[label] = (report.max_partition_bytes, report.max_worker_rss)
            assert report.entities == n, (report.entities, n)
            cpu[label] = report.cpu_seconds
            print(
                f"{label:<6} {report.seconds:7.2f} s  cpu {report.cpu_seconds:6.2f} s  "
                f"start-up {startup:5.2f} s  "
                f"largest partition {report.max_partition_bytes / 1e6:6.0f} MB arrow  "
                f"peak worker RSS {report.max_worker_rss / 1e6:6.0f} MB",
                flush=True,
            )
        print(f"anchor {anchor * 1e3:7.1f} ms  (weighted bincount, {m:,} -> {n:,} bins)")
        for label, seconds in figures.items():
            print(
                f"{label:<6} ratio to anchor {seconds / anchor:7.1f}  "
                f"({m / seconds / 1e6:5.2f} M events/s)"
            )
        print(
            f"D1     speedup 2 workers / 1 worker {figures['w1'] / figures['w2']:5.2f}x  "
            f"(inline / engine {figures['inline'] / figures['engine']:4.2f}x, "
            f"w1 / inline {figures['w1'] / figures['inline']:4.2f}x)"
        )
        print(
            f"D1     bytes per worker (2 workers): partition {memory['w2'][0] / 1e6:.0f} MB "
            f"arrow, peak RSS {memory['w2'][1] / 1e6:.0f} MB "
            f"({memory['w2'][1] / (m / args.partitions):.0f} B per event of a partition)"
        )
        # Wall time can only halve if two cores are free: the CPU the job used, and the
        # machine's load while it ran, say whether they were.
        print(
            f"D1     cpu seconds w1 {cpu['w1']:.2f}  w2 {cpu['w2']:.2f}  "
            f"(w2 cpu / wall {cpu['w2'] / figures['w2']:.2f} cores busy); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )


if __name__ == "__main__":
    main()
