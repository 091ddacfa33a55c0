"""Benchmark: event ingest into SQLite (P5) and columnar event loads, against raw sqlite3.

Ingest anchor (same run, same machine): plain sqlite3 `executemany` of pre-built row tuples
into a fresh file with the identical schema and indexes (created by Store, so nothing can
drift), one transaction, WAL, synchronous=NORMAL, the same page cache. Store.insert_events
gets the columnar EventBatch the service builds and pays for its own conversion. Target
P5: Store >= 0.7x the anchor's rows/s. Also printed for reference: the anchor with the
default 2 MiB page cache (what PERFORMANCE.md's 163k rows/s row measured).

Load: Store.load_events of every entity (10k x ~50 events by default) with one string and
one numeric property, against the raw fetchall of the same SQL (the numpy conversion and
factorisation are the difference).

    .venv/bin/python bench/store.py [--events 500000] [--entities 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from prioscore.server.store import PAGE_CACHE_KIB, EventBatch, Store

EVENT_TYPES = ("page_view", "email_open", "form_submit", "login")
URLS = (*(f"/docs/{i}" for i in range(40)), "/pricing", "/careers", "/demo")


def synthetic(n: int, n_entities: int, seed: int = 3) -> EventBatch:
    rng = np.random.default_rng(seed)
    entity = rng.integers(0, n_entities, n)
    kinds = rng.integers(0, len(EVENT_TYPES), n)
    url = rng.integers(0, len(URLS), n)
    clicks = rng.integers(0, 12, n)
    props = [
        json.dumps({"url": URLS[u], "clicks": int(c)}) if k == 0 else "{}"
        for k, u, c in zip(kinds.tolist(), url.tolist(), clicks.tolist(), strict=True)
    ]
    return EventBatch(
        message_id=[uuid.UUID(int=int(x)).hex for x in rng.integers(0, 2**62, n)],
        entity_id=[f"contact-{e:07d}" for e in entity.tolist()],
        event=[EVENT_TYPES[k] for k in kinds.tolist()],
        ts=1.7e9 + rng.random(n) * 90 * 86_400,
        value=np.where(kinds == 0, rng.random(n) * 60, np.nan),
        properties=props,
    )


def fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    Store(path).close()  # the schema, exactly as the service creates it
    os.sync()  # flush the previous run's writes so they don't slow the next one down


def raw_insert(path: Path, rows: list[tuple], cache_kib: int | None) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if cache_kib:
        conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT OR IGNORE INTO events"
        " (message_id, entity_id, event, ts, value, properties, ingested)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def store_insert(path: Path, batch: EventBatch, chunk: int | None = None) -> float:
    store = Store(path)
    start = time.perf_counter()
    if chunk is None:
        new = store.insert_events(batch)
    else:  # one transaction per request-sized chunk, as the service does
        new = 0
        for i in range(0, len(batch), chunk):
            part = EventBatch(
                batch.message_id[i : i + chunk],
                batch.entity_id[i : i + chunk],
                batch.event[i : i + chunk],
                batch.ts[i : i + chunk],
                batch.value[i : i + chunk],
                batch.properties[i : i + chunk],
            )
            new += store.insert_events(part)
    elapsed = time.perf_counter() - start
    store.close()
    assert new == len(set(batch.message_id)), new
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the scratch files go (default: tmp)")
    args = parser.parse_args()
    n = args.events

    batch = synthetic(n, args.entities)
    now = time.time()
    rows = list(
        zip(
            batch.message_id,
            batch.entity_id,
            batch.event,
            batch.ts.tolist(),
            [None if np.isnan(v) else v for v in batch.value.tolist()],
            batch.properties,
            [now] * n,
            strict=True,
        )
    )

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.db"
        raw_t, store_t, default_t, chunk_t = [], [], [], []
        for r in range(args.repeats):  # interleaved, alternating, so drift hits both alike
            for side in (0, 1) if r % 2 == 0 else (1, 0):
                fresh(path)
                if side == 0:
                    raw_t.append(raw_insert(path, rows, PAGE_CACHE_KIB))
                else:
                    store_t.append(store_insert(path, batch))
            fresh(path)
            default_t.append(raw_insert(path, rows, None))
            fresh(path)
            chunk_t.append(store_insert(path, batch, chunk=5_000))
        raw_rate = n / statistics.median(raw_t)
        store_rate = n / statistics.median(store_t)
        print(f"ingest {n:,} events, {args.entities:,} entities, medians of {args.repeats}")
        print(f"  raw sqlite3 executemany (anchor)   {raw_rate:12,.0f} rows/s")
        print(f"  Store.insert_events                {store_rate:12,.0f} rows/s")
        print(f"  ratio Store / anchor               {store_rate / raw_rate:12.2f}x (P5 >= 0.7x)")
        print(
            f"  raw, default 2 MiB page cache      {n / statistics.median(default_t):12,.0f} rows/s"
        )
        print(
            f"  Store, 5k-event transactions       {n / statistics.median(chunk_t):12,.0f} rows/s"
        )
        print(f"  database size                      {os.path.getsize(path) / 2**20:12,.0f} MiB")

        # the last file holds all events: load every entity's events
        store = Store(path)
        ids = store.conn.execute("SELECT DISTINCT entity_id FROM events").fetchall()
        entity_ids = sorted(r[0] for r in ids)
        types = ("page_view", "form_submit", "email_open")

        def load() -> int:
            cols = store.load_events(entity_ids, types, ["url"], ["clicks"])
            return len(cols)

        raw_sql = (
            "SELECT j.key, t.key, e.ts, COALESCE(e.value, 1.0),"
            " CAST(json_extract(e.properties, '$.\"url\"') AS TEXT),"
            " CASE WHEN json_type(e.properties, '$.\"clicks\"') IN ('integer', 'real')"
            " THEN json_extract(e.properties, '$.\"clicks\"') END"
            " FROM json_each(?) AS j CROSS JOIN events AS e ON e.entity_id = j.value"
            " CROSS JOIN json_each(?) AS t ON t.value = e.event"
        )

        def raw_load() -> int:
            params = (json.dumps(entity_ids), json.dumps(types))
            return len(store.conn.execute(raw_sql, params).fetchall())

        load_t, raw_load_t = [], []
        loaded = 0
        for _ in range(args.repeats):
            start = time.perf_counter()
            loaded = load()
            load_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            raw_load()
            raw_load_t.append(time.perf_counter() - start)
        store.close()
        load_rate = loaded / statistics.median(load_t)
        raw_load_rate = loaded / statistics.median(raw_load_t)
        print(f"load_events: {len(entity_ids):,} entities, {loaded:,} events (3 of 4 types)")
        print(f"  raw fetchall of the same SQL       {raw_load_rate:12,.0f} rows/s")
        print(f"  Store.load_events -> EventColumns  {load_rate:12,.0f} rows/s")
        print(f"  ratio Store / raw fetchall         {load_rate / raw_load_rate:12.2f}x")


if __name__ == "__main__":
    main()
