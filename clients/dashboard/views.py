"""What the pages show, computed from API messages: pure functions, no I/O.

Kept apart from the request handlers so the arithmetic (histogram bins, days in tier,
sparkline geometry, which attributes name a person) is plain code over plain values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prioscore.clients.trends import seconds
from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import types_pb2

# The traits a person recognises a record by, in the order a CRM shows them.
DISPLAY_KEYS = ("name", "email", "company", "plan", "title")
HISTOGRAM_BINS = 10
DAY = 86_400.0


@dataclass(frozen=True)
class Bar:
    """One labelled bar (a histogram bin or a tier): `share` is 0-100 of the widest."""

    label: str
    count: int
    share: float


@dataclass(frozen=True)
class ContributionRow:
    name: str
    kind: str  # "signal" or "fit"
    feature: float
    points: float
    attribute_value: str  # the entity's value behind a fit rule; "" for signals


def display_attributes(entity: types_pb2.Entity) -> dict[str, str]:
    """The entity's recognisable traits (name, e-mail, ...), else its first two."""
    strings = dict(entity.attributes)
    chosen = {key: strings[key] for key in DISPLAY_KEYS if strings.get(key)}
    if chosen:
        return chosen
    return {key: strings[key] for key in sorted(strings)[:2]}


def when(stamp: object) -> str:
    """A Timestamp as 'YYYY-MM-DD HH:MM UTC' (people read dates, not epochs)."""
    moment = datetime.fromtimestamp(seconds(stamp), UTC)  # type: ignore[arg-type]
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def bars(labels: Sequence[str], counts: Sequence[int]) -> list[Bar]:
    widest = max(counts, default=0) or 1
    return [Bar(label, n, 100.0 * n / widest) for label, n in zip(labels, counts, strict=True)]


def histogram_edges() -> list[float]:
    """Lower edges of the score bins: 0, 10, ..., 90 (a score of 100 falls in the last)."""
    return [100.0 * i / HISTOGRAM_BINS for i in range(HISTOGRAM_BINS)]


def histogram(at_least: Sequence[int]) -> list[Bar]:
    """Bins from cumulative counts: at_least[i] scores are >= edge i (a count per edge is
    what RankEntities' total_size gives with min_score, without reading every score)."""
    edges = histogram_edges()
    above = [*at_least[1:], 0]
    counts = [at_least[i] - above[i] for i in range(len(edges))]
    labels = [f"{edge:g}-{edge + 100 / HISTOGRAM_BINS:g}" for edge in edges]
    return bars(labels, counts)


def contribution_rows(score: types_pb2.Score, entity: types_pb2.Entity) -> list[ContributionRow]:
    """Every signal and fit rule of an explained score, with the attribute value a fit
    rule read (so "fit:plan +12" shows which plan earned it)."""
    attributes: Mapping[str, object] = {**entity.attributes, **entity.numeric_attributes}
    rows = []
    for c in score.contributions:
        fit = c.kind == types_pb2.CONTRIBUTION_KIND_FIT
        value = attributes.get(c.name, "") if fit else ""
        rows.append(
            ContributionRow(
                c.name,
                "fit" if fit else "signal",
                c.feature,
                c.points,
                "(not set)" if fit and value == "" else str(value),
            )
        )
    return rows


def history_series(points: Sequence[scoring_pb.ScoreHistoryPoint]) -> dict[str, list[object]]:
    """Newest-first history as oldest-first columns for the chart: times (POSIX seconds),
    scores and tiers."""
    ordered = list(reversed(points))
    return {
        "times": [seconds(p.time) for p in ordered],
        "scores": [round(p.score, 3) for p in ordered],
        "tiers": [p.tier for p in ordered],
    }


def days_in_tier(points: Sequence[scoring_pb.ScoreHistoryPoint], now: float) -> float | None:
    """Days since the entity entered its current tier (newest-first history); None
    without history. A streak reaching the oldest point counts from that point."""
    if not points:
        return None
    tier = points[0].tier
    entered = seconds(points[0].time)
    for point in points:
        if point.tier != tier:
            break
        entered = seconds(point.time)
    return max(now - entered, 0.0) / DAY


def sparkline(
    points: Sequence[scoring_pb.ScoreHistoryPoint], width: int = 120, height: int = 24
) -> str:
    """SVG polyline coordinates of scores over real time (0-100 mapped to the height):
    drawn server-side, so the at-risk table needs no script per row."""
    if len(points) < 2:
        return ""
    ordered = list(reversed(points))
    start, end = seconds(ordered[0].time), seconds(ordered[-1].time)
    span = end - start or 1.0
    coords = []
    for p in ordered:
        x = (seconds(p.time) - start) / span * width
        y = height - max(min(p.score, 100.0), 0.0) / 100.0 * height
        coords.append(f"{x:.1f},{y:.1f}")
    return " ".join(coords)


def finite(value: float) -> bool:
    return math.isfinite(value)
