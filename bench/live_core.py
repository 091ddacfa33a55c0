"""Benchmark: the live core's clock sweep and its memory (issue 12).

    .venv/bin/python bench/live_core.py [--quick] [--entities N] [--events N]

A store of N entities (contacts, accounts, subscriptions, tickets) and M events under
every bundled profile is written with raw executemany (bench/_population.py), the live
core is built over it as the server builds it (build_handlers), and the clock's sweep
(Rescorer.population_jobs for every profile, chunk by chunk, one transaction each, as
the clock thread hands them to the writer) is timed.

S1  a steady clock sweep (every stored score exists; time moved one refresh, 5 min) /
    the engine's own time for the same features and scores (compute_features, score
    signals, score with top-3 reasons) from in-memory arrays of the whole population,
    same run; <= 3x.
    The catch-up sweep (first start: every row is new and written) is printed beside it.
S4  bytes of live state (event columns, offsets, attributes and last scores kept beside
    them) per stored event; report, <= 64 B.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, info
from _population import NOW, build_store, registry

from prioscore.server.clock import Clock
from prioscore.server.engine import compute_features, profile_inputs, score
from prioscore.server.handlers import build_handlers
from prioscore.server.scoring.relations import (
    fill_score_signals,
    load_events,
    load_related_scores,
)
from prioscore.server.store import Cause, Store

REFRESH = 300.0  # the bundled profiles' [scoring] refresh: one steady sweep later


def sweep(handlers: object, now: float) -> tuple[float, int]:
    """Seconds for one sweep of every profile as of `now`, and its tier changes."""
    core = handlers.core  # type: ignore[attr-defined]
    start = time.perf_counter()
    changes = 0
    for job in core.rescorer.population_jobs(handlers.registry.all(), now, Cause.CLOCK):  # type: ignore[attr-defined]
        changes += len(job())
    return time.perf_counter() - start, changes


def engine_time(store: Store, live: object, now: float) -> float:
    """The engine's own time for every profile's whole population, inputs in memory."""
    total = 0.0
    for profile in registry().all():
        ids = store.entity_ids(kind=profile.entity)
        needs = profile_inputs(profile)
        events, _ = load_events(store, profile, ids, needs, now, live)  # type: ignore[arg-type]
        attrs = store.attributes(ids, needs.categorical_attributes, needs.numeric_attributes)
        related = load_related_scores(store, profile, ids, None)
        start = time.perf_counter()
        features = compute_features(profile, events, len(ids), now)
        fill_score_signals(profile, features.matrix, related)
        score(profile, features, attrs, explain=True, top_reasons=3)
        total += time.perf_counter() - start
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k entities, 1M events")
    parser.add_argument("--entities", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    args = parser.parse_args()
    n_entities = args.entities or (100_000 if args.quick else 1_000_000)
    n_events = args.events or (1_000_000 if args.quick else 10_000_000)
    with tempfile.TemporaryDirectory(prefix="prioscore-bench-live-") as tmp:
        db = Path(tmp) / "live.db"
        start = time.perf_counter()
        counts = build_store(db, n_entities, n_events)
        info(
            "    store",
            f"{counts} entities, {n_events:,} events in"
            f" {time.perf_counter() - start:.0f}s (raw executemany)",
        )
        store = Store(db)
        clock = Clock()
        clock.set(NOW)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        handlers = build_handlers(store, registry(), clock=clock)
        built = time.perf_counter() - start
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) * 1024
        live = handlers.core.live
        catch_up, c_changes = sweep(handlers, NOW)
        info("    catch-up sweep", f"{catch_up:.1f}s, {c_changes:,} tier changes (every row new)")
        steady, s_changes = sweep(handlers, NOW + REFRESH)
        anchor = engine_time(store, live, NOW + REFRESH)
        figure(
            "S1  sweep/engine",
            steady / anchor,
            3.0,
            False,
            f"steady sweep {steady:.2f}s ({s_changes:,} tier changes) vs engine {anchor:.2f}s;"
            f" {n_entities:,} entities, {n_events:,} events, 5 profiles",
        )
        state = live.nbytes + store.mirror_nbytes
        per_event = grown / max(len(live), 1)
        figure(
            "S4  live bytes/event",
            state / max(len(live), 1),
            64.0,
            False,
            f"{state / 2**20:,.0f} MiB live state for {len(live):,} events (events"
            f" {live.nbytes / 2**20:,.0f}, score mirror {store.mirror_nbytes / 2**20:,.0f});"
            f" built in"
            f" {built:.0f}s, peak RSS grew {grown / 2**20:,.0f} MiB ({per_event:.0f} B/event)",
            unit=" B",
        )
        handlers.close()


if __name__ == "__main__":
    main()
