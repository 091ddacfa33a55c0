"""Benchmark: IngestEvents end to end against raw sqlite3 executemany, same run.

    .venv/bin/python bench/service_ingest.py [--quick] [--profile-server DIR]

Figures (PERFORMANCE.md):
  P5   IngestEvents (dedupe on message_id, rescoring) events/s vs sqlite3 executemany of
       the same rows into a fresh db with the same schema/indexes, one transaction per
       batch as the server does (>= 0.5x, as PERFORMANCE.md and issue 13 say); also with
       no profile matching the events.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, median
from _service_common import (
    Group,
    Run,
    ServerProcess,
    batches_of,
    ingest_once,
    main,
    make_events,
)

from prioscore.v1 import types_pb2


def stored_rows(events: list[types_pb2.Event]) -> list[tuple[Any, ...]]:
    """The rows the server stores for these events (same columns, same JSON text)."""
    ingested = time.time()
    rows = []
    for e in events:
        props = {**dict(e.properties), **dict(e.metrics)}
        rows.append(
            (
                e.message_id,
                e.entity_id,
                e.event,
                e.time.seconds + e.time.nanos / 1e9 if e.HasField("time") else ingested,
                e.value if e.HasField("value") else 1.0,
                json.dumps(props, separators=(",", ":")) if props else "{}",
                ingested,
            )
        )
    return rows


def raw_executemany(
    rows: list[tuple[Any, ...]], batch: int, workdir: Path, name: str, one_txn: bool
) -> float:
    """Seconds to INSERT OR IGNORE the rows into a fresh db with the store's schema."""
    from prioscore.server.store import Store

    path = workdir / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    Store(path).close()  # the same schema, indexes and migrations as the server's
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    sql = (
        "INSERT OR IGNORE INTO events (message_id, entity_id, event, ts, value, properties,"
        " ingested) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    start = time.perf_counter()
    step = len(rows) if one_txn else batch
    for i in range(0, len(rows), step):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[i : i + step])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == len(rows)
    conn.close()
    return elapsed


def bench_p5(
    workdir: Path,
    profiles: Path,
    n_events: int,
    n_entities: int,
    batch: int,
    max_seconds: float,
    prof: str | None,
) -> None:
    results: dict[str, tuple[float, Any]] = {}
    events: dict[str, list[types_pb2.Event]] = {}
    for mode, kind in (("nomatch", "bench_none"), ("rescore", "contact")):
        events[mode] = make_events(n_events, n_entities, kind, f"p5{mode}", seed=5)
        reqs = batches_of(events[mode], batch)
        server = ServerProcess(f"p5-{mode}", profiles, workdir, prof)
        try:
            results[mode] = ingest_once(server.target, reqs, max_seconds)
        finally:
            server.stop()
        assert results[mode][1].duplicates == 0, results[mode][1]
    rescore_secs, rescore_resp = results["rescore"]
    nomatch_secs, nomatch_resp = results["nomatch"]
    done = rescore_resp.accepted  # whole batches, in order: the first `done` events
    rows = stored_rows(events["rescore"][:done])
    per_batch = [raw_executemany(rows, batch, workdir, "p5-raw", False) for _ in range(3)]
    one_txn = [raw_executemany(rows, batch, workdir, "p5-raw1", True) for _ in range(1)]
    raw_rate = done / median(per_batch)
    raw1_rate = done / median(one_txn)
    rate = done / rescore_secs
    nomatch_rate = nomatch_resp.accepted / nomatch_secs
    capped = " (time-capped)" if done < n_events else ""
    shape = f"{done:,} events{capped}, {n_entities:,} entities, batches of {batch:,}"
    figure(
        "P5  ingest/executemany",
        rate / raw_rate,
        0.5,
        True,
        f"IngestEvents {rate:,.0f} ev/s (rescored {rescore_resp.entities_rescored:,} "
        f"entity-profiles, {rescore_resp.tier_changes:,} tier changes) vs executemany "
        f"{raw_rate:,.0f} rows/s (txn per batch, median of 3; one txn {raw1_rate:,.0f}); {shape}",
    )
    per_event = (rescore_secs / done - nomatch_secs / nomatch_resp.accepted) * 1e6
    figure(
        "P5  ingest no-rescore/exec",
        nomatch_rate / raw_rate,
        0.5,
        True,
        f"IngestEvents with no profile matching (entity_kind bench_none) {nomatch_rate:,.0f} "
        f"ev/s ({nomatch_resp.accepted:,} events in {nomatch_secs:.1f}s); rescoring adds "
        f"{per_event:.0f} us/event ({rescore_secs:.1f}s for {done:,} events)",
    )


def run(ctx: Run) -> None:
    q = ctx.quick
    bench_p5(
        ctx.workdir,
        ctx.profiles,
        20_000 if q else 100_000,
        10_000,
        2_000,
        10 if q else 25,
        ctx.profile_dir,
    )


GROUP = Group(("P5",), run)

if __name__ == "__main__":
    main("bench/service_ingest.py", __doc__ or "", [GROUP])
