"""`prioscore at-risk`: accounts whose churn tier is at-risk or worse, why, and the trend."""

from __future__ import annotations

import click

from prioscore.clients.cli.common import client, reasons_text
from prioscore.clients.cli.output import emit, output_options
from prioscore.clients.cli.report import at_risk as build_report
from prioscore.clients.cli.scores import split_list
from prioscore.clients.trends import Trend

_ARROWS = {"rising": "↑ rising", "falling": "↓ falling", "flat": "→ flat"}


def _trend_text(trend: Trend, days: float) -> str:
    if trend.direction == "unknown":
        return f"? {trend.span_days:.0f}d of {days:g}d history"
    return _ARROWS[trend.direction]


@click.command("at-risk")
@click.option("--profile", default="churn_risk", show_default=True, help="The churn profile.")
@click.option(
    "--tiers",
    "tiers",
    multiple=True,
    help="Tiers to report (comma-list or repeat); default: at_risk and every tier above it.",
)
@click.option("--account", default="", help="Only entities of this account.")
@click.option("--limit", default=50, show_default=True, help="Most entities to list.")
@click.option("--all", "all_pages", is_flag=True, help="Every matching entity.")
@click.option("--days", default=30.0, show_default=True, help="Trend: compare with N days ago.")
@click.option(
    "--threshold", default=2.0, show_default=True, help="Trend: points of change that count."
)
@output_options
def at_risk(
    profile: str,
    tiers: tuple[str, ...],
    account: str,
    limit: int,
    all_pages: bool,
    days: float,
    threshold: float,
    fmt: str,
) -> None:
    """Accounts at risk of churning, the top reasons, and whether risk is rising.

    Lists the entities of PROFILE (accounts for churn_risk) whose stored tier is
    at_risk or worse, highest risk first, with their top three reasons and the trend
    of their score: the current score against the score --days ago in the stored
    history (rising / falling when it moved by --threshold points or more; "?" with
    the days of history there are when the history is younger than --days).
    """
    chosen = split_list(tiers) or None
    used, found = build_report(
        client(),
        profile,
        tiers=chosen,
        account_id=account,
        limit=None if all_pages else limit,
        days=days,
        threshold=threshold,
    )
    rows = [
        {
            "entity_id": item.score.entity_id,
            "score": item.score.score,
            "tier": item.score.tier,
            "trend": _trend_text(item.trend, days) if fmt == "table" else item.trend.direction,
            "change": item.trend.delta,
            "reasons": reasons_text(item.score),
        }
        for item in found
    ]
    columns = ["entity_id", "score", "tier", "trend", "change", "reasons"]
    emit(rows, columns, fmt, empty=f"(nothing in {', '.join(used)} under {profile})")
    if fmt == "table" and rows:
        click.echo(f"{len(rows)} in {', '.join(used)}; trend over {days:g} days", err=True)
