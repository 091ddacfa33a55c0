"""Benchmark: per-call cost against the stored population (issue 13, S3).

    .venv/bin/python bench/live_scaling.py [--small N] [--large N] [--rounds R]

Two stores, `--small` and `--large` entities of every bundled profile's kind with ten
events each (bench/_population.py, raw executemany), each with the live core built and
swept once (every score stored), driven in-process (no gRPC: the figure isolates what
the service does per call, and the anchor is the same call on the small store, same run,
the two stores measured in interleaved rounds so drift does not land on one of them):

S3i  one-event ingest (a subscription's event: saas_renewal has quantile tiers; and a
     contact's: lead_qualification, rolling up into account_engagement), median latency
     at large / at small; <= 1.5x
     And a contact's event carrying an identity merge (an alias: the merged id's events
     and scores move to the known one).
S3r  a RankEntities page (50 rows, first page and a deep keyset page of saas_renewal;
     the first page of one account's contacts under lead_qualification) at large / at
     small; <= 1.5x
S3s  a stored ScoreEntities of one subscription scored from its events with
     explanations (saas_renewal: quantile tiers, cut on the stored population), by the
     readers' scorer as the serving thread runs it, at large / at small; <= 1.5x
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, info, median
from _population import NOW, build_store, registry

from prioscore.server.clock import Clock
from prioscore.server.handlers import TRACK, Handlers, IncomingEvents, RankQuery, build_handlers
from prioscore.server.store import Cause, Store

CALLS = 40
ROUNDS = 4  # rounds per store, interleaved
WARM_UP = 5  # calls before the timed ones (first-call caches, statement cache)


def one_event(message_id: str, entity_id: str, kind: str, event: str, ts: float) -> IncomingEvents:
    return IncomingEvents(
        message_id=[message_id],
        kind=[TRACK],
        entity_id=[entity_id],
        event=[event],
        ts=np.asarray([ts]),
        value=np.asarray([np.nan]),
        properties=[{"feature": "api", "url": "/pricing/x"}],
        metrics=[{}],
        traits=[{}],
        numeric_traits=[{}],
        account_id=[""],
        entity_kind=[kind],
    )


def ready(db: Path, n_entities: int) -> Handlers:
    build_store(db, n_entities, 10 * n_entities, seed=3)
    clock = Clock()
    clock.set(NOW)
    handlers = build_handlers(Store(db), registry(), clock=clock)
    core = handlers.core
    for job in core.rescorer.population_jobs(handlers.registry.all(), NOW, Cause.CLOCK):
        job()
    return handlers


def ingest_latency(
    handlers: Handlers, kind: str, prefix: str, event: str, round_: int = 0
) -> list[float]:
    """Seconds per one-event ingest; each round sends new messages (a repeat would be a
    duplicate, not rescored) to the same entities."""
    samples = []
    for i in range(-WARM_UP, CALLS):
        batch = one_event(f"s3-{kind}{round_}-{i}", f"{prefix}-{i + WARM_UP}", kind, event, NOW + i)
        start = time.perf_counter()
        handlers.service.ingest(batch)
        if i >= 0:
            samples.append(time.perf_counter() - start)
    return samples


def merge_latency(handlers: Handlers, round_: int) -> list[float]:
    """Seconds per one-event ingest that also merges another stored contact into the
    event's (a different pair each call)."""
    samples = []
    for i in range(-WARM_UP, CALLS):
        at = 100 + 2 * (round_ * (CALLS + WARM_UP) + i + WARM_UP)  # stored at any size
        batch = one_event(f"s3m-{round_}-{i}", f"con-{at}", "contact", "page_view", NOW + i)
        batch = replace(batch, merges=[(f"con-{at + 1}", f"con-{at}")])
        start = time.perf_counter()
        handlers.service.ingest(batch)
        if i >= 0:
            samples.append(time.perf_counter() - start)
    return samples


def rank_latency(handlers: Handlers, profile: str, deep: bool, account_id: str = "") -> list[float]:
    service = handlers.service
    token = ""
    if deep:  # the keyset token of a page halfway down
        page = service.rank(RankQuery(profile, page_size=1000))
        for _ in range(5):
            page = service.rank(RankQuery(profile, page_size=1000, page_token=page.next_page_token))
        token = page.next_page_token
    samples = []
    for i in range(-WARM_UP, CALLS):
        start = time.perf_counter()
        service.rank(RankQuery(profile, page_size=50, page_token=token, account_id=account_id))
        if i >= 0:
            samples.append(time.perf_counter() - start)
    return samples


def stored_score_latency(handlers: Handlers, profile: str, prefix: str) -> list[float]:
    """Seconds per stored ScoreEntities of one entity computed from its events (explain:
    not the stored row), each call a different entity."""
    samples = []
    for i in range(-WARM_UP, CALLS):
        start = time.perf_counter()
        handlers.service.score_stored(profile, [f"{prefix}-{i + WARM_UP}"], explain=True)
        if i >= 0:
            samples.append(time.perf_counter() - start)
    return samples


def measure(handlers: Handlers, round_: int) -> dict[str, list[float]]:
    return {
        "ingest subscription": ingest_latency(
            handlers, "subscription", "sub", "feature_used", round_
        ),
        "ingest contact": ingest_latency(handlers, "contact", "con", "page_view", round_),
        "ingest contact with a merge": merge_latency(handlers, round_),
        "rank first page": rank_latency(handlers, "saas_renewal", deep=False),
        "rank deep page": rank_latency(handlers, "saas_renewal", deep=True),
        # One account's contacts (about five at any size: bench/_population.py).
        "rank account page": rank_latency(handlers, "lead_qualification", False, "acc-7"),
        "score stored subscription": stored_score_latency(handlers, "saas_renewal", "sub"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    sizes = (args.small, args.large)
    samples: dict[int, dict[str, list[float]]] = {n: {} for n in sizes}
    with tempfile.TemporaryDirectory(prefix="prioscore-bench-s3-") as tmp:
        built = {n: ready(Path(tmp) / f"s3-{n}.db", n) for n in sizes}
        try:
            # Interleaved rounds, the order alternating: the machine's drift (shared
            # cores, other benchmarks) falls on both stores alike.
            for r in range(args.rounds):
                for n in sizes if r % 2 == 0 else sizes[::-1]:
                    for name, got in measure(built[n], r).items():
                        samples[n].setdefault(name, []).extend(got)
        finally:
            for handlers in built.values():
                handlers.close()
    small = {name: median(got) for name, got in samples[args.small].items()}
    large = {name: median(got) for name, got in samples[args.large].items()}
    for name in small:
        label = {"ingest": "S3i ", "rank": "S3r ", "score": "S3s "}[name.split()[0]]
        figure(
            f"{label}{name}",
            large[name] / small[name],
            1.5,
            False,
            f"median {large[name] * 1e3:.2f} ms at {args.large:,} entities vs"
            f" {small[name] * 1e3:.2f} ms at {args.small:,} (same run, in-process)",
        )
    info(
        "    shape",
        f"{args.rounds} interleaved rounds x {CALLS} calls each; ten events per stored"
        " entity; 5 bundled profiles",
    )


if __name__ == "__main__":
    main()
