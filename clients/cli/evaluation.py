"""`prioscore backtest` / `calibrate` (profiles against known outcomes) and `compare`
(a candidate against a loaded profile on the stored entities, no outcomes needed).

OUTCOMES.csv has a header with entity_id,label,outcome_time; the whole file is checked
before anything is sent (bad rows: file, line and field on stderr, exit 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from prioscore.clients.cli.common import client
from prioscore.clients.cli.outcomes import read_outcomes
from prioscore.clients.cli.output import emit, output_options
from prioscore.v1 import profile_service_pb2 as profiles_pb

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_HORIZON_HELP = (
    "Features as of each outcome_time minus this many days (the prediction horizon; "
    "0 lets the outcome leak into its own features)."
)


def report_record(report: profiles_pb.BacktestReport) -> dict[str, Any]:
    return {
        "profile": report.profile,
        "auc": report.auc,
        "precision_at_k": report.precision_at_k,
        "k": report.k,
        "lift_by_decile": list(report.lift_by_decile),
        "tiers": [
            {"tier": t.tier, "entities": t.entities, "positives": t.positives, "rate": t.rate}
            for t in report.tier_conversions
        ],
        "base_rate": report.base_rate,
        "entities": report.entities,
        "positives": report.positives,
    }


def _echo_report(report: profiles_pb.BacktestReport, title: str) -> None:
    click.echo(
        f"{title}: {report.entities} outcomes, {report.positives} positive"
        f" (base rate {report.base_rate:.1%})"
    )
    click.echo(f"  AUC {report.auc:.3f}   precision@{report.k} {report.precision_at_k:.3f}")
    lifts = " ".join(f"{v:.2f}" for v in report.lift_by_decile)
    click.echo(f"  lift by decile (top first): {lifts}")
    rows = [
        {"tier": t.tier, "entities": t.entities, "positives": t.positives, "rate": t.rate}
        for t in report.tier_conversions
    ]
    emit(rows, ["tier", "entities", "positives", "rate"], "table", digits=3)


@click.command("backtest")
@click.argument("profile")
@click.argument("outcomes_csv", metavar="OUTCOMES.csv", type=_FILE)
@click.option(
    "--candidate",
    type=_FILE,
    help="Backtest this candidate TOML instead; PROFILE becomes the shadow baseline.",
)
@click.option("--k", type=click.IntRange(min=0), default=0, help="k of precision@k (0: 100).")
@click.option("--horizon-days", type=click.FloatRange(min=0), default=0.0, help=_HORIZON_HELP)
@click.option("--shadow", help="Compare the ranking with this loaded profile as well.")
@output_options
def backtest(
    profile: str,
    outcomes_csv: Path,
    candidate: Path | None,
    k: int,
    horizon_days: float,
    shadow: str | None,
    fmt: str,
) -> None:
    """How well PROFILE's scores anticipated the outcomes in OUTCOMES.csv (read-only).

    \b
    OUTCOMES.csv: one row per entity whose outcome is known, with a header row:
      entity_id,label,outcome_time
      contact-0007,1,2026-05-30T00:00:00Z     (1: it converted / churned)
      contact-0012,0,2026-05-30               (0: it did not)
    label is 1/0, true/false or yes/no; outcome_time is ISO 8601 (UTC without an
    offset) or epoch seconds: when the outcome was known. Scores are computed from the
    events before outcome_time minus --horizon-days (point in time, no leakage).
    """
    outcomes = read_outcomes(outcomes_csv)
    candidate_toml = candidate.read_text(encoding="utf-8") if candidate else ""
    response = client().backtest(
        outcomes,
        profile=profile,
        candidate_toml=candidate_toml,
        k=k,
        horizon_days=horizon_days,
        shadow_profile=shadow or (profile if candidate else ""),
    )
    record = report_record(response.report)
    comparison = None
    if response.HasField("shadow"):
        s = response.shadow
        comparison = {
            "baseline_profile": s.baseline_profile,
            "top_k_overlap": s.top_k_overlap,
            "rank_correlation": s.rank_correlation,
            "tier_moves": s.tier_moves,
        }
    if fmt != "table":
        emit([{**record, "shadow": comparison}], [*record, "shadow"], fmt)
        return
    title = f"{response.report.profile} ({candidate})" if candidate else response.report.profile
    _echo_report(response.report, title)
    if comparison:
        click.echo(
            f"shadow vs {comparison['baseline_profile']}: top-{response.report.k} overlap"
            f" {comparison['top_k_overlap']:.2f}, rank correlation"
            f" {comparison['rank_correlation']:.2f}, {comparison['tier_moves']} tier moves"
        )


@click.command("calibrate")
@click.argument("profile")
@click.argument("outcomes_csv", metavar="OUTCOMES.csv", type=_FILE)
@click.option("--l2", type=click.FloatRange(min=0), default=0.0, help="L2 regularisation (0: 1.0).")
@click.option("--horizon-days", type=click.FloatRange(min=0), default=0.0, help=_HORIZON_HELP)
@click.option("--k", type=click.IntRange(min=0), default=0, help="k of precision@k (0: 100).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the candidate TOML here (it is not loaded; review, backtest, then deploy).",
)
@output_options
def calibrate(
    profile: str,
    outcomes_csv: Path,
    l2: float,
    horizon_days: float,
    k: int,
    out: Path | None,
    fmt: str,
) -> None:
    """Fit PROFILE's signal weights to OUTCOMES.csv and propose a candidate (read-only).

    \b
    OUTCOMES.csv: one row per entity whose outcome is known, with a header row:
      entity_id,label,outcome_time
      contact-0007,1,2026-05-30T00:00:00Z     (1: it converted / churned)
      contact-0012,0,2026-05-30               (0: it did not)
    label is 1/0, true/false or yes/no; outcome_time is ISO 8601 (UTC without an
    offset) or epoch seconds: when the outcome was known. Scores are computed from the
    events before outcome_time minus --horizon-days (point in time, no leakage).
    """
    outcomes = read_outcomes(outcomes_csv)
    response = client().calibrate(profile, outcomes, l2=l2, horizon_days=horizon_days, k=k)
    if out is not None:
        out.write_text(response.candidate_toml, encoding="utf-8")
    for warning in response.warnings:  # sign flips and dropped signals: review them
        click.echo(f"warning: {warning}", err=True)
    weights = [
        {"signal": w.name, "previous_weight": w.previous_weight, "weight": w.weight}
        for w in response.weights
    ]
    if fmt != "table":
        record = {
            "profile": profile,
            "weights": weights,
            "intercept": response.intercept,
            "calibration": {
                "slope": response.calibration.slope,
                "intercept": response.calibration.intercept,
            },
            "current": report_record(response.current_report),
            "candidate": report_record(response.candidate_report),
            "candidate_toml": response.candidate_toml,
            "warnings": list(response.warnings),
            "written_to": str(out) if out else None,
        }
        emit([record], list(record), fmt)
        return
    click.echo(f"{profile}: weights fitted to {len(outcomes)} outcomes")
    emit(weights, ["signal", "previous_weight", "weight"], "table", digits=3)
    c = response.calibration
    click.echo(
        f"intercept {response.intercept:.3f} points; p(positive) = sigmoid({c.slope:.4f} * score"
        f" {c.intercept:+.4f})\n"
    )
    _echo_report(response.current_report, "current")
    _echo_report(response.candidate_report, "candidate")
    if out is not None:
        click.echo(f"\ncandidate written to {out} (not loaded)")
    else:
        click.echo("\n# candidate TOML (not loaded; --out FILE to save it)")
        click.echo(response.candidate_toml, nl=not response.candidate_toml.endswith("\n"))


@click.command("compare")
@click.argument("profile")
@click.option(
    "--candidate",
    type=_FILE,
    help="Candidate profile TOML (e.g. from `prioscore calibrate --out`); not loaded.",
)
@click.option("--with", "other", metavar="NAME", help="Compare with this loaded profile instead.")
@click.option(
    "--shadow",
    "shadow",
    is_flag=True,
    help="Compare with the shadow staged for PROFILE (`prioscore profiles stage`).",
)
@click.option("--k", type=click.IntRange(min=0), default=0, help="k of the top-k overlap (0: 100).")
@click.option(
    "--limit",
    type=click.IntRange(min=0, max=1000),
    default=0,
    help="Tier moves to list, largest score change first (0: 100, at most 1000).",
)
@output_options
def compare(
    profile: str,
    candidate: Path | None,
    other: str | None,
    shadow: bool,
    k: int,
    limit: int,
    fmt: str,
) -> None:
    """How a candidate would re-rank PROFILE's stored entities today (read-only).

    Every stored entity PROFILE scores is scored as of now under both; the report gives
    the top-k overlap, the rank correlation and the entities that would change tier.
    """
    if (candidate is not None) + (other is not None) + shadow != 1:
        raise click.UsageError("give exactly one of --candidate FILE, --with NAME or --shadow")
    response = client().compare(
        profile,
        candidate_toml=candidate.read_text(encoding="utf-8") if candidate else "",
        candidate_profile=other or "",
        candidate_shadow=shadow,
        k=k,
        page_size=limit,
    )
    moves = [
        {"entity_id": m.entity_id, "from_tier": m.from_tier, "to_tier": m.to_tier}
        for m in response.tier_moves
    ]
    if fmt == "csv":
        emit(moves, ["entity_id", "from_tier", "to_tier"], fmt)
        return
    record = {
        "profile": profile,
        "candidate": str(candidate) if candidate else other or f"{profile}@shadow",
        "entities": response.entities,
        "top_k_overlap": response.top_k_overlap,
        "rank_correlation": response.rank_correlation,
        "tier_moves_total": response.tier_moves_total,
        "tier_moves": moves,
    }
    if fmt == "json":
        emit([record], list(record), fmt)
        return
    shown_k = min(k or 100, response.entities)
    click.echo(f"{profile} vs {record['candidate']}: {response.entities} entities compared")
    click.echo(
        f"  top-{shown_k} overlap {response.top_k_overlap:.2f}   rank correlation"
        f" {response.rank_correlation:.3f}   {response.tier_moves_total} tier moves"
    )
    if moves:
        more = response.tier_moves_total - len(moves)
        title = "largest tier moves" + (f" ({more} more; --limit)" if more > 0 else "")
        click.echo(f"\n{title}:")
        rows = [{**m, "from_tier": m["from_tier"] or "(disqualified)",
                 "to_tier": m["to_tier"] or "(disqualified)"} for m in moves]  # fmt: skip
        emit(rows, ["entity_id", "from_tier", "to_tier"], "table")
