"""Benchmark: what account rollups and score signals cost at ingest (issue 7).

The service layer is driven in-process (no gRPC, so the figure isolates rescoring): the
same contact events are ingested into a fresh store under
  - `alone`:   lead_qualification only,
  - `rollup`:  lead_qualification + account_engagement (members' events rolled up, three
               signals reading the contacts' lead scores),
and each rate is printed as a ratio to raw sqlite3 executemany of the same rows, measured
in the same run (the machine is shared and noisy: absolute rates drift, ratios much less).

R1  rollup / alone     ingest rate with the account rollup vs without; target >= 0.5 (the
                       rollup rescoring every touched contact's account may at most halve it)
R2  rollup skewed / R1 the same with 20x fewer, 20x bigger accounts (every batch reloads the
                       events of all members of each touched account): the scaling limit
                       of rescoring from stored events; printed for information

Usage: python bench/relations.py [--events N] [--batch N]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import figure, info, median

from prioscore.server.clock import Clock
from prioscore.server.handlers import (
    GROUP,
    IDENTIFY,
    TRACK,
    IncomingEvents,
    build_handlers,
)
from prioscore.server.profiles import ProfileRegistry, bundled
from prioscore.server.store import Store

ROOT = Path(__file__).resolve().parents[1]
DAY = 86_400.0
NOW = 1_900_000_000.0
URLS = ("/pricing", "/demo", "/docs/api", "/blog/x", "/case-studies/y", "/security")
SENIORITY = ("vp", "director", "manager", "individual_contributor")


def columnar(
    prefix: str,
    ids: list[str],
    kinds: list[str],
    events: list[str],
    ts: np.ndarray,
    props: list[dict[str, str]],
    accounts: list[str],
) -> IncomingEvents:
    n = len(ids)
    return IncomingEvents(
        message_id=[f"{prefix}-{i}" for i in range(n)],
        kind=kinds,
        entity_id=ids,
        event=events,
        ts=ts,
        value=np.full(n, np.nan),
        properties=props,
        metrics=[{} for _ in range(n)],
        traits=[{"seniority": SENIORITY[i % 4]} if kinds[i] == IDENTIFY else {} for i in range(n)],
        numeric_traits=[{} for _ in range(n)],
        account_id=accounts,
        entity_kind=["contact"] * n,
    )


def membership(contacts: int, accounts: int) -> IncomingEvents:
    """identify (seniority) and group (contact c-i joins acct-(i % accounts)) per contact."""
    ids = [f"c-{i}" for i in range(contacts) for _ in (0, 1)]
    joins = [a for i in range(contacts) for a in ("", f"acct-{i % accounts}")]
    n = len(ids)
    ts = np.full(n, NOW - 100 * DAY)
    return columnar("who", ids, [IDENTIFY, GROUP] * contacts, [""] * n, ts, [{}] * n, joins)


def tracks(n: int, contacts: int, seed: int) -> IncomingEvents:
    rng = np.random.default_rng(seed)
    who = rng.integers(0, contacts, n)
    url = rng.integers(0, len(URLS), n)
    ts = NOW - rng.uniform(0, 60, n) * DAY
    props = [{"url": URLS[u]} for u in url]
    ids = [f"c-{w}" for w in who]
    return columnar("pv", ids, [TRACK] * n, ["page_view"] * n, ts, props, [""] * n)


def sliced(events: IncomingEvents, a: int, b: int) -> IncomingEvents:
    """Events a..b as a batch (columns that are None, e.g. value_given, stay None)."""
    columns = {
        k: None if v is None else v[a:b] for k, v in vars(events).items() if k != "field_prefix"
    }
    return IncomingEvents(**columns)


def ingest_rate(
    profiles: list[str], setup: IncomingEvents, load: IncomingEvents, batch: int, work: Path
) -> float:
    directory = work / f"profiles-{'-'.join(profiles)}"
    directory.mkdir(exist_ok=True)
    for name in profiles:
        shutil.copy(bundled.DIRECTORY / f"{name}.toml", directory)
    db = work / f"{directory.name}-{time.monotonic_ns()}.db"
    registry = ProfileRegistry.from_directory(directory)
    clock = Clock()
    clock.set(NOW)
    service = build_handlers(Store(db), registry, clock=clock).service
    service.ingest(setup)
    start = time.perf_counter()
    for a in range(0, len(load), batch):
        service.ingest(sliced(load, a, a + batch))
    elapsed = time.perf_counter() - start
    service.store.close()
    return len(load) / elapsed


def raw_rate(load: IncomingEvents, batch: int, work: Path) -> float:
    """sqlite3 executemany of the same rows into the store's schema, a txn per batch."""
    db = work / f"raw-{time.monotonic_ns()}.db"
    Store(db).close()
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    rows = [
        (
            load.message_id[i],
            load.entity_id[i],
            load.event[i],
            float(load.ts[i]),
            None,
            f'{{"url":"{load.properties[i]["url"]}"}}',
            NOW,
        )
        for i in range(len(load))
    ]
    sql = "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)"
    start = time.perf_counter()
    for a in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[a : a + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--contacts", type=int, default=4_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prioscore-bench-rel-") as tmp:
        work = Path(tmp)
        rates: dict[str, float] = {}
        for label, accounts in (("spread", 200), ("skewed", 10)):
            setup = membership(args.contacts, accounts)
            load = tracks(args.events, args.contacts, seed=7)
            anchor = median([raw_rate(load, args.batch, work) for _ in range(3)])
            alone = ingest_rate(["lead_qualification"], setup, load, args.batch, work)
            rollup = ingest_rate(
                ["lead_qualification", "account_engagement"], setup, load, args.batch, work
            )
            rates[label] = rollup / alone
            shape = (
                f"{args.events:,} page views, {args.contacts:,} contacts in {accounts} accounts,"
                f" batches of {args.batch:,}"
            )
            info(
                f"R   {label} rates",
                f"raw executemany {anchor:,.0f} rows/s; alone {alone:,.0f} ev/s"
                f" ({alone / anchor:.3f}x raw); rollup {rollup:,.0f} ev/s"
                f" ({rollup / anchor:.3f}x raw); {shape}",
            )
        figure("R1  rollup/alone", rates["spread"], 0.5, True, "200 accounts of 20 contacts")
        info(
            "R2  skewed rollup/alone",
            f"{rates['skewed']:.3f}x with 10 accounts of 400 contacts: each batch reloads"
            " every member's events of the touched accounts (incremental aggregates would"
            " remove this)",
        )


if __name__ == "__main__":
    main()
