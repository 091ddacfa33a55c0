"""Synthetic but plausible events for `prioscore demo`, derived from the loaded profiles.

Nothing about the four bundled domains is hard-coded: event names, property values,
entity kinds, attributes and disqualifiers all come from the profiles the server serves
(GetProfile: signals; its TOML: categories, fit and disqualify rules), so the demo keeps
working when a profile changes or a fifth one appears.

Each entity draws a latent "heat" h in [0, 1] per profile — how high it should score.
Events of one kind and property assignment (a *variant*: page_view on a "hot" URL,
feature_used with feature=api, ...) form one coherent timeline whose activity a is h or
1 - h, depending on whether more recent activity of that variant raises or lowers the
score under the signals that see it (count-like aggregates rise with activity, recency
aggregates fall). Active timelines have more, more recent and accelerating events, so
counts, decays, windows, recency and trends all agree, and the ranking follows h.
"""

from __future__ import annotations

import itertools
import math
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prioscore.clients.events import make_event
from prioscore.v1 import profile_service_pb2 as profiles_pb
from prioscore.v1 import types_pb2

DAY = 86_400.0
RECENCY = {"days_since_last", "days_since_first"}
SUMS = {"sum", "decayed_sum", "window_sum"}
NEUTRAL = "other"
DEFAULT_COUNTS = {"contact": 200, "account": 60, "subscription": 80, "ticket": 120}
# Display traits (what a CRM record shows: a name, a contact's e-mail), picked by position so
# they draw nothing from the seeded generator: the same seed still tells the same story.
_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
_COMPANY = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne")


@dataclass(frozen=True)
class Category:
    name: str
    property: str
    equals: tuple[str, ...]
    prefixes: tuple[str, ...]
    contains: tuple[str, ...]
    eliminatory: bool

    def matches(self, text: str) -> bool:
        return (
            text in self.equals
            or text.startswith(self.prefixes)
            or any(c in text for c in self.contains)
        )

    def example(self, rng: np.random.Generator) -> str:
        """A property value this category's rule assigns (a URL under a prefix, say)."""
        suffix = str(rng.choice(["", "/enterprise", "/team", "/compare", "/faq"]))
        if self.prefixes:
            return str(rng.choice(self.prefixes)).rstrip("/") + suffix
        if self.equals:
            return str(rng.choice(self.equals))
        return "/x/" + str(rng.choice(self.contains)) + suffix


@dataclass
class Variant:
    """Events of one name with one property assignment, and the signals that see them."""

    event: str
    assignment: dict[str, str]  # match key -> value ("category" -> category name)
    signals: list[profiles_pb.SignalDetail] = field(default_factory=list)

    @property
    def sign(self) -> int:
        total = 0.0
        for s in self.signals:
            direction = -1.0 if s.aggregate in RECENCY else 1.0
            total += math.copysign(1.0, s.weight) * direction if s.weight else 0.0
        return int(np.sign(total))

    def reach(self, s: profiles_pb.SignalDetail) -> float:
        """The feature value at which the signal's points hit its cap."""
        if s.HasField("cap") and s.weight:
            return abs(s.cap / s.weight)
        return 5.0

    def expected_count(self) -> float:
        needs = [3.0]
        for s in self.signals:
            if s.aggregate == "exists":
                needs.append(1.0)
            elif s.aggregate in RECENCY or s.aggregate in SUMS or s.aggregate == "density":
                needs.append(4.0)
            elif s.aggregate == "trend":
                needs.append(6.0)
            elif s.aggregate == "decayed_count":
                needs.append(self.reach(s) * 1.4)
            else:
                needs.append(self.reach(s))
        return float(np.clip(max(needs[1:] or needs), 1.0, 20.0))

    def horizon_days(self) -> float:
        """How far back an inactive timeline's newest event sits: scaled to the windows
        and recency caps of the signals that read it, so features span their range."""
        spans = [40.0]
        for s in self.signals:
            if s.aggregate in RECENCY:
                spans.append(1.5 * (self.reach(s) if s.HasField("cap") else s.missing or 30.0))
            if s.HasField("window_days"):
                spans.append(1.5 * s.window_days)
        return min(spans)


@dataclass
class ProfilePlan:
    profile: profiles_pb.GetProfileResponse
    categories: list[Category]
    variants: list[Variant]
    fit: list[dict[str, Any]]
    disqualify: list[dict[str, Any]]

    @property
    def entity(self) -> str:
        return self.profile.profile.entity


def _categories(doc: Mapping[str, Any]) -> list[Category]:
    return [
        Category(
            c["name"],
            c.get("property", "url"),
            tuple(c.get("equals", ())),
            tuple(c.get("prefixes", ())),
            tuple(c.get("contains", ())),
            bool(c.get("eliminatory", False)),
        )
        for c in doc.get("categories", [])
    ]


def plan(profile: profiles_pb.GetProfileResponse) -> ProfilePlan:
    """Works out the variants of every event the profile reads."""
    doc = tomllib.loads(profile.toml)
    categories = _categories(doc)
    variants: list[Variant] = []
    by_event: dict[str, list[profiles_pb.SignalDetail]] = {}
    for s in profile.signals:
        if s.event:  # score signals read other profiles' scores, not events
            by_event.setdefault(s.event, []).append(s)
    eliminatory = {c.name for c in categories if c.eliminatory}
    for event, signals in by_event.items():
        options: dict[str, list[str]] = {}
        for s in signals:
            for m in s.match:
                known = options.setdefault(m.key, [])
                known.extend(v for v in m.values if v not in eliminatory and v not in known)
        keys = sorted(options)
        choices = [[*options[k], NEUTRAL] for k in keys]
        for combo in itertools.islice(itertools.product(*choices), 24):
            assignment = dict(zip(keys, combo, strict=True))
            seen = [
                s
                for s in signals
                if all(assignment.get(m.key, NEUTRAL) in m.values for m in s.match)
            ]
            variants.append(Variant(event, assignment, seen))
    return ProfilePlan(profile, categories, variants, doc.get("fit", []), doc.get("disqualify", []))


def _pick_ranked(options: Sequence[Any], h: float, rng: np.random.Generator) -> Any:
    """An option from a list ordered low to high: hotter entities lean to the high end."""
    position = 0.6 * h + 0.4 * rng.random()
    return options[min(len(options) - 1, int(position * len(options)))]


def _range_value(spec: Mapping[str, Any], rng: np.random.Generator) -> float:
    low, high = spec.get("min"), spec.get("max")
    if low is None:
        low = high / 2 if high and high > 0 else (high or 0) - 10
    if high is None:
        high = low * 3 if low > 0 else low + 10
    value = rng.uniform(low, high)
    integral = float(low).is_integer() and float(high).is_integer()
    return float(math.floor(value)) if integral else round(value, 2)


def attributes(
    plan_: ProfilePlan, h: float, rng: np.random.Generator, dq_rate: float
) -> tuple[dict[str, str], dict[str, float]]:
    """Fit attributes leaning with h, and now and then a disqualifying one."""
    traits: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for rule in plan_.fit:
        if rule.get("points"):
            ranked = sorted(rule["points"], key=lambda k: rule["points"][k])
            traits[rule["attribute"]] = str(_pick_ranked(ranked, h, rng))
        elif rule.get("ranges"):
            ranked = sorted(rule["ranges"], key=lambda r: r.get("points", 0))
            numbers[rule["attribute"]] = _range_value(_pick_ranked(ranked, h, rng), rng)
    for rule in plan_.disqualify:
        if rule.get("in") and rng.random() < dq_rate:
            traits[rule["attribute"]] = str(rng.choice(rule["in"]))
    return traits, numbers


def _properties(
    variant: Variant, categories: list[Category], rng: np.random.Generator
) -> dict[str, str]:
    props: dict[str, str] = {}
    for key, value in variant.assignment.items():
        if key != "category":
            props[key] = value
            continue
        rule = next((c for c in categories if c.name == value), None)
        if rule is not None:
            props[rule.property] = rule.example(rng)
        else:  # neutral: a page no category rule claims
            page = f"/blog/post-{int(rng.integers(1, 400))}"
            if not any(c.matches(page) for c in categories):
                props[categories[0].property if categories else "url"] = page
    return props


def timeline(
    variant: Variant,
    activity: float,
    rng: np.random.Generator,
    days: float,
) -> np.ndarray:
    """Event ages in days: busier timelines have more, more recent, accelerating events."""
    if variant.signals and all(s.aggregate == "days_since_first" for s in variant.signals):
        count = 1  # an "opened" kind of event happens once
    else:
        count = int(rng.poisson(activity * variant.expected_count()))
    if count == 0:
        return np.empty(0)
    horizon = variant.horizon_days()
    newest = (1.0 - activity) * horizon + rng.uniform(0, 0.2 * horizon)
    spread = rng.exponential(horizon * (0.15 + 0.6 * (1.0 - activity)), size=count - 1)
    ages = np.concatenate([[newest], newest + spread])
    return ages[ages <= days]  # the demo's history starts `days` ago


def entity_events(
    plan_: ProfilePlan,
    entity_id: str,
    h: float,
    rng: np.random.Generator,
    *,
    now: float,
    days: float,
) -> Iterator[types_pb2.Event]:
    """Track events of one entity under one profile."""
    kind = plan_.entity
    for variant in plan_.variants:
        sign = variant.sign
        base = h if sign > 0 else (1.0 - h) if sign < 0 else 0.25
        activity = float(np.clip(base + rng.normal(0, 0.08), 0.0, 1.0))
        sums = [s for s in variant.signals if s.aggregate in SUMS]
        density = any(s.aggregate == "density" for s in variant.signals)
        for age in timeline(variant, activity, rng, days):
            value = None
            metrics: dict[str, float] = {}
            if sums:
                reach = max(variant.reach(s) for s in sums)
                value = round(max(0.05, activity * reach / 4 * rng.uniform(0.8, 1.2)), 2)
            elif density:
                value = round(20 + 160 * activity * rng.uniform(0.7, 1.3))
                metrics["clicks"] = float(1 + rng.poisson(5 * activity))
            yield make_event(
                "track",
                entity_id,
                event=variant.event,
                time=now - age * DAY,
                value=value,
                properties=_properties(variant, plan_.categories, rng),
                metrics=metrics,
                entity_kind=kind,
            )


def eliminating_event(
    plan_: ProfilePlan, entity_id: str, rng: np.random.Generator, now: float
) -> types_pb2.Event | None:
    """One event in an eliminatory category (a careers-page visit), when the profile has one."""
    rules = [c for c in plan_.categories if c.eliminatory]
    events = [v.event for v in plan_.variants if "category" in v.assignment]
    if not rules or not events:
        return None
    rule = rules[int(rng.integers(len(rules)))]
    return make_event(
        "track",
        entity_id,
        event=events[0],
        time=now - rng.uniform(0, 20) * DAY,
        properties={rule.property: rule.example(rng)},
        entity_kind=plan_.entity,
    )


def display_traits(kind: str, index: int) -> dict[str, str]:
    """A readable name (and for contacts an e-mail) for the index-th entity of a kind."""
    company = f"{_COMPANY[index % len(_COMPANY)]} {index // len(_COMPANY) + 1}"
    if kind == "account":
        return {"name": company}
    if kind != "contact":
        return {"name": f"{kind.title()} {index + 1}"}
    first, last = _FIRST[index % len(_FIRST)], _LAST[(index // len(_FIRST)) % len(_LAST)]
    email = f"{first}.{last}{index}@{company.split()[0]}.example".lower()
    return {"name": f"{first} {last}", "email": email}


def generate(
    profiles: Sequence[profiles_pb.GetProfileResponse],
    counts: Mapping[str, int],
    *,
    seed: int = 7,
    days: float = 120.0,
    dq_rate: float = 0.05,
    now: float | None = None,
) -> Iterator[types_pb2.Event]:
    """All demo events: identify (attributes + kind) and group (account) first, then tracks."""
    rng = np.random.default_rng(seed)
    now = time.time() if now is None else now
    plans = [plan(p) for p in profiles]
    kinds = sorted({p.entity for p in plans})
    ids = {k: [f"{k}-{i:04d}" for i in range(1, counts.get(k, 50) + 1)] for k in kinds}
    heat = {p.profile.profile.name: rng.beta(1.1, 1.9, size=len(ids[p.entity])) for p in plans}
    accounts = ids.get("account", [])
    for kind in kinds:
        for i, entity_id in enumerate(ids[kind]):
            traits = display_traits(kind, i)
            numbers: dict[str, float] = {}
            for p in (p for p in plans if p.entity == kind):
                t, n = attributes(p, float(heat[p.profile.profile.name][i]), rng, dq_rate)
                traits.update(t)
                numbers.update(n)
            yield make_event(
                "identify", entity_id, traits=traits, numeric_traits=numbers, entity_kind=kind
            )
            if accounts and kind != "account":
                account = accounts[int(rng.integers(len(accounts)))]
                yield make_event("group", entity_id, account_id=account, entity_kind=kind)
    for p in plans:
        name = p.profile.profile.name
        for i, entity_id in enumerate(ids[p.entity]):
            yield from entity_events(p, entity_id, float(heat[name][i]), rng, now=now, days=days)
            if rng.random() < dq_rate / 2:
                extra = eliminating_event(p, entity_id, rng, now)
                if extra is not None:
                    yield extra
