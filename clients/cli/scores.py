"""Reading scores: `score`, `rank`, `explain` and `history`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from prioscore.clients.cli.common import (
    client,
    contribution_record,
    reasons_text,
    score_record,
)
from prioscore.clients.cli.output import emit, output_options
from prioscore.v1 import types_pb2

_SCORE_COLUMNS = ["entity_id", "score", "tier", "engagement", "fit", "reasons"]


def split_list(values: tuple[str, ...]) -> list[str]:
    """Repeatable options that also accept commas: --tier hot --tier warm == --tier hot,warm."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def iso(stamp: Any) -> str:
    seconds = stamp.seconds + stamp.nanos / 1e9
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _columns(records: list[dict[str, Any]]) -> list[str]:
    """Score columns, plus the contributing members where a rolled-up profile has them."""
    if any(r["contributors"] for r in records):
        return [*_SCORE_COLUMNS, "contributors"]
    return _SCORE_COLUMNS


@click.command()
@click.argument("profile")
@click.argument("entity_ids", nargs=-1, required=True)
@click.option("--reasons", default=3, show_default=True, help="Top reasons per entity.")
@output_options
def score(profile: str, entity_ids: tuple[str, ...], reasons: int, fmt: str) -> None:
    """Score stored entities now under PROFILE (read-only: nothing is stored).

    Scores are computed from each entity's stored events and attributes as of now,
    so they can differ from `rank`, which lists the scores stored at the last ingest.
    """
    scores = client().score_entities(profile, list(entity_ids), top_reasons=reasons)
    records = [score_record(s, reasons, structured=fmt == "json") for s in scores]
    emit(records, _columns(records), fmt)


@click.command()
@click.argument("profile")
@click.option("--tier", "tiers", multiple=True, help="Only these tiers (repeat or comma-list).")
@click.option("--account", default="", help="Only entities of this account.")
@click.option("--min-score", type=click.FloatRange(0, 100), help="Only scores >= this.")
@click.option("--limit", default=20, show_default=True, help="Rows to show.")
@click.option("--all", "all_pages", is_flag=True, help="Every matching entity (all pages).")
@click.option("--include-disqualified", is_flag=True, help="Also list disqualified entities.")
@click.option("--reasons", default=3, show_default=True, help="Top reasons per entity.")
@output_options
def rank(
    profile: str,
    tiers: tuple[str, ...],
    account: str,
    min_score: float | None,
    limit: int,
    all_pages: bool,
    include_disqualified: bool,
    reasons: int,
    fmt: str,
) -> None:
    """List the stored scores of PROFILE, highest first, with the reasons behind each."""
    api = client()
    filters: dict[str, Any] = dict(
        tiers=split_list(tiers),
        account_id=account,
        min_score=min_score,
        include_disqualified=include_disqualified,
        top_reasons=reasons,
    )
    scores: list[types_pb2.Score] = []
    token, total = "", 0
    while all_pages or len(scores) < limit:
        size = 1000 if all_pages else min(1000, limit - len(scores))
        page = api.rank_page(profile, page_size=size, page_token=token, **filters)
        scores.extend(page.items)
        token, total = page.next_page_token, page.total_size
        if not token or not page.items:
            break
    structured = fmt == "json"
    rows = [
        {"rank": i, **score_record(s, reasons, structured=structured)}
        for i, s in enumerate(scores, start=1)
    ]
    emit(rows, ["rank", *_columns(rows)], fmt, empty="(no scored entities match)")
    if fmt == "table" and rows:
        click.echo(f"{len(rows)} of {total} shown", err=True)


@click.command()
@click.argument("profile")
@click.argument("entity_id")
@output_options
def explain(profile: str, entity_id: str, fmt: str) -> None:
    """Why ENTITY_ID scores what it does under PROFILE: every signal and fit rule.

    Points per signal are clip(weight x feature, -cap, cap); fit points come from the
    attribute value shown beside them; the profile's combine mode makes the score.
    """
    (result,) = client().score_entities(profile, [entity_id], explain=True, top_reasons=3)
    if fmt == "json":
        rows = [contribution_record(c) for c in result.contributions]
        summary = score_record(result, structured=True)
        emit([{**summary, "profile": profile, "contributions": rows}], [], fmt)
        return
    rows = [
        {
            "name": c.name,
            "kind": "fit" if c.kind == types_pb2.CONTRIBUTION_KIND_FIT else "signal",
            "feature": c.feature,
            "value": c.value,
            "points": c.points,
        }
        for c in result.contributions
    ]
    summary = score_record(result)
    if fmt == "csv":
        emit(rows, ["name", "kind", "feature", "value", "points"], fmt)
        return
    status = "disqualified: " + result.disqualify_reason if result.disqualified else result.tier
    click.echo(
        f"{entity_id} under {profile} v{result.profile_version}: score {result.score:.1f}"
        f" ({status}); engagement {result.engagement:.1f}, fit {result.fit:.1f}"
    )
    emit(rows, ["name", "kind", "feature", "value", "points"], fmt, digits=2)
    click.echo("top reasons: " + (", ".join(summary["reasons"]) or "none"))
    if summary["contributors"]:
        click.echo("top contributors: " + ", ".join(summary["contributors"]))


@click.command()
@click.argument("entity_id")
@click.option("--profile", help="Only this profile (default: every profile).")
@click.option("--limit", default=20, show_default=True, help="Points per profile, newest first.")
@output_options
def history(entity_id: str, profile: str | None, limit: int, fmt: str) -> None:
    """Stored score history of ENTITY_ID, newest first: the score at real times, what
    caused each point (event, clock, reload, promotion, backfill, entity update,
    erasure) and its top reasons - why the score changed."""
    api = client()
    names = [profile] if profile else [p.name for p in api.list_profiles()]
    rows: list[dict[str, Any]] = []
    for name in names:
        points = api.history(entity_id, name, limit=limit)
        rows.extend(
            {
                "time": iso(p.time),
                "profile": name,
                "score": p.score,
                "tier": p.tier,
                "version": p.profile_version,
                "cause": _CAUSES.get(p.cause, ""),
                "reasons": (
                    [contribution_record(r) for r in p.top_reasons]
                    if fmt == "json"
                    else reasons_text(p)
                ),
            }
            for p in points
        )
    rows.sort(key=lambda r: r["time"], reverse=True)
    columns = ["time", "profile", "score", "tier", "version", "cause", "reasons"]
    emit(rows, columns, fmt, empty="(no history)")


_CAUSES = {
    value: name.removeprefix("TIER_CHANGE_CAUSE_").lower()
    for name, value in types_pb2.TierChangeCause.items()
    if value
}
