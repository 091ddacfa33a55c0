"""A synthetic stored population for every bundled profile, written straight into the
store's schema with raw sqlite3 executemany (building 10M events through ingest would
take the run's whole budget; the live core reads the same rows either way).

Entities: contacts (lead_qualification, members of accounts), accounts (churn_risk,
account_engagement), subscriptions (saas_renewal, quantile tiers) and tickets
(ticket_triage, reading their account's churn_risk). Events of each kind use the event
types, properties and attribute values the bundled profiles read, so every signal, fit
rule and disqualification has matching and non-matching rows.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prioscore.server.engine import Profile, profile_inputs
from prioscore.server.profiles import ProfileRegistry, bundled
from prioscore.server.store import Store

DAY = 86_400.0
NOW = 1_900_000_000.0
SHARE = {"contact": 0.5, "account": 0.1, "subscription": 0.15, "ticket": 0.25}


@dataclass
class KindSpec:
    """What the profiles of one entity kind read: events, properties, attributes."""

    events: list[str]
    strings: dict[str, list[str]]
    numbers: list[str]
    categorical: dict[str, list[str]]
    numeric: dict[str, tuple[float, float]]


def registry() -> ProfileRegistry:
    return ProfileRegistry.from_directory(bundled.DIRECTORY)


def _property_values(profile: Profile, prop: str) -> list[str]:
    values = {"other"}
    for c in profile.categories:
        if c.property == prop:
            values |= {p + "/x" for p in c.prefixes} | set(c.equals)
    for s in profile.signals:
        values |= set(s.match.get(prop, ()))
    return sorted(values)


def kind_specs(profiles: list[Profile]) -> dict[str, KindSpec]:
    specs: dict[str, KindSpec] = {}
    for p in profiles:
        if p.members:  # the account's rollup reads its contacts' events
            continue
        needs = profile_inputs(p)
        spec = specs.setdefault(p.entity, KindSpec([], {}, [], {}, {}))
        spec.events = sorted({*spec.events, *p.event_types})
        for s in needs.string_properties:
            spec.strings[s] = sorted({*spec.strings.get(s, []), *_property_values(p, s)})
        spec.numbers = sorted({*spec.numbers, *needs.numeric_properties})
        for f in p.fit:
            if f.points:
                spec.categorical[f.attribute] = [*f.points, "unknown"]
            if f.ranges:
                bounds = [b for r in f.ranges for b in (r.low, r.high) if b is not None]
                spec.numeric[f.attribute] = (min(bounds) - 5.0, max(bounds) * 1.5)
        for d in p.disqualify:
            spec.categorical[d.attribute] = [*d.values, "active", "active", "active", "active"]
    return specs


def sizes(n_entities: int) -> dict[str, int]:
    return {k: int(n_entities * s) for k, s in SHARE.items()}


def entity_ids(kind: str, n: int) -> list[str]:
    return [f"{kind[:3]}-{i}" for i in range(n)]


def build_store(path: Path, n_entities: int, n_events: int, seed: int = 1) -> dict[str, int]:
    """Writes the population into a fresh store at `path`; returns entities per kind."""
    Store(path).close()  # the schema, indexes and migrations of the server
    rng = np.random.default_rng(seed)
    specs = kind_specs(registry().all())
    counts = sizes(n_entities)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    n_accounts = counts["account"]
    for kind, n in counts.items():
        spec = specs[kind]
        cats = {a: rng.integers(0, len(v), n) for a, v in spec.categorical.items()}
        nums = {a: rng.uniform(lo, hi, n) for a, (lo, hi) in spec.numeric.items()}
        owner = rng.integers(0, n_accounts, n) if kind in ("contact", "ticket") else None
        rows = (
            (
                eid,
                kind,
                f"acc-{owner[i]}" if owner is not None else "",
                json.dumps({a: spec.categorical[a][c[i]] for a, c in cats.items()}),
                json.dumps({a: round(float(v[i]), 2) for a, v in nums.items()}),
                NOW - 400 * DAY,
                NOW - 400 * DAY,
            )
            for i, eid in enumerate(entity_ids(kind, n))
        )
        conn.executemany("INSERT INTO entities VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    for kind, n in counts.items():
        spec = specs[kind]
        m = int(n_events * counts[kind] / sum(counts.values()))
        ids = entity_ids(kind, n)
        who = rng.integers(0, n, m)
        what = rng.integers(0, len(spec.events), m)
        ts = NOW - rng.exponential(30.0, m).clip(0, 365) * DAY
        picks = {s: rng.integers(0, len(v), m) for s, v in spec.strings.items()}
        clicks = rng.integers(1, 5, m)
        rows_iter = (
            (
                f"{kind[:1]}{j}",
                ids[who[j]],
                spec.events[what[j]],
                float(ts[j]),
                None,
                json.dumps(
                    {s: spec.strings[s][p[j]] for s, p in picks.items()}
                    | {s: int(clicks[j]) for s in spec.numbers}
                ),
                NOW,
            )
            for j in range(m)
        )
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows_iter)
    conn.execute("COMMIT")
    conn.close()
    return counts
