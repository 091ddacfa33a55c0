"""`prioscore-lake score | backtest | calibrate`: a profile over Parquet events on a
distributed engine.

A server-side command, not a `prioscore` subcommand: it runs the engine itself (the
`prioscore` client never imports the server, and this path involves no server at all).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click

from prioscore.server.engine import Profile
from prioscore.server.errors import PrioscoreError
from prioscore.server.lake.cluster import executor
from prioscore.server.lake.dataset import LakeInputError
from prioscore.server.lake.evaluation import (
    Dataset,
    dumps,
    lake_backtest,
    lake_calibrate,
    report_json,
)
from prioscore.server.lake.runner import score_lake
from prioscore.server.profiles import ProfileRegistry, profile_to_toml


def parse_as_of(text: str) -> float:
    """Epoch seconds, or an ISO 8601 time (UTC when it names no zone)."""
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise LakeInputError(
                [f"--as-of {text!r}: use epoch seconds or ISO 8601 (2025-01-31T00:00:00Z)"]
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if not math.isfinite(value) or value < 0:
        raise LakeInputError([f"--as-of {text!r}: must be a finite time after 1970"])
    return value


def find_profile(profiles: Path, name: str) -> tuple[Profile, dict[str, Profile]]:
    """The named profile and every profile of the folder (score signals read some)."""
    registry = ProfileRegistry.from_directory(profiles)
    profile = registry.get(name)
    if profile is None:
        known = ", ".join(p.name for p in registry.all()) or "none"
        raise LakeInputError([f"PROFILE {name!r}: not in {profiles} (known: {known})"])
    return profile, {p.name: p for p in registry.all()}


@click.group()
def main() -> None:
    """The prioscore engine over Parquet, on a distributed engine (dask.distributed)."""


@main.command("score")
@click.argument("profile_name", metavar="PROFILE")
@click.option(
    "--events",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of event partitions (*.parquet).",
)
@click.option(
    "--entities",
    type=click.Path(path_type=Path),
    help="Folder of entity partitions, same file names.",
)
@click.option(
    "--as-of", "as_of", required=True, help="Score as of this time (epoch seconds or ISO 8601)."
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Output folder (must not exist)."
)
@click.option(
    "--profiles",
    default="profiles",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Profile folder.",
)
@click.option(
    "--cluster", default="local[2]", show_default=True, help="inline | local[N] | tcp://host:port"
)
@click.option(
    "--reasons",
    default=3,
    show_default=True,
    type=click.IntRange(0, 16),
    help="Top reasons per row.",
)
def score_command(
    profile_name: str,
    events: Path,
    entities: Path | None,
    as_of: str,
    out: Path,
    profiles: Path,
    cluster: str,
    reasons: int,
) -> None:
    """Score every entity in the partitions under PROFILE as of --as-of into --out: one
    Parquet part per partition with the service's scores columns (entity_id, profile,
    profile_version, score, engagement, fit, tier, disqualified, reasons, updated)."""
    try:
        when = parse_as_of(as_of)
        profile, every = find_profile(profiles, profile_name)
        with executor(cluster) as runner:
            report = score_lake(
                profile, events, entities, when, out, runner, profiles=every, top_reasons=reasons
            )
    except PrioscoreError as error:  # LakeInputError, ProfileInvalidError: all named
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    click.echo(
        f"scored {report.entities:,} entities ({report.events:,} events, {report.partitions}"
        f" partitions) on {report.workers} worker(s) in {report.seconds:.2f}s -> {out}",
        err=True,
    )


__all__ = ["main", "parse_as_of"]


def _evaluation_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options backtest and calibrate share."""
    options = [
        click.option("--events", required=True, type=click.Path(path_type=Path)),
        click.option("--entities", type=click.Path(path_type=Path)),
        click.option(
            "--outcomes",
            required=True,
            type=click.Path(path_type=Path),
            help="Folder of outcome partitions (entity_id, label, time), same file names.",
        ),
        click.option("--horizon-days", default=0.0, show_default=True, type=float),
        click.option("--k", default=0, type=click.IntRange(0), help="precision@k (0: 100)."),
        click.option("--profiles", default="profiles", type=click.Path(path_type=Path)),
        click.option("--cluster", default="local[2]", show_default=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command("backtest")
@click.argument("profile_name", metavar="PROFILE")
@_evaluation_options
def backtest_command(
    profile_name: str,
    events: Path,
    entities: Path | None,
    outcomes: Path,
    horizon_days: float,
    k: int,
    profiles: Path,
    cluster: str,
) -> None:
    """How PROFILE's ranking, horizon-days before each outcome, anticipated the outcomes:
    AUC, precision@k, lift by decile, outcome rate per tier (JSON on stdout)."""
    try:
        profile, _ = find_profile(profiles, profile_name)
        data = Dataset(events, entities, outcomes)
        with executor(cluster) as runner:
            report = lake_backtest(profile, data, runner, horizon_days=horizon_days, k=k)
    except PrioscoreError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    click.echo(dumps({"profile": profile.name, **report_json(report)}))


@main.command("calibrate")
@click.argument("profile_name", metavar="PROFILE")
@_evaluation_options
@click.option("--l2", default=1.0, show_default=True, type=float, help="Ridge penalty.")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Write the candidate profile TOML here."
)
def calibrate_command(
    profile_name: str,
    events: Path,
    entities: Path | None,
    outcomes: Path,
    horizon_days: float,
    k: int,
    profiles: Path,
    cluster: str,
    l2: float,
    out: Path | None,
) -> None:
    """Fit PROFILE's signal weights to the outcomes: the fitted weights, the score ->
    probability calibration, and the backtests of the candidate and of PROFILE (JSON);
    --out also writes the candidate as TOML (version + 1), ready to stage."""
    try:
        if out is not None and out.exists():
            raise LakeInputError([f"--out {out}: already exists; choose a new path"])
        profile, _ = find_profile(profiles, profile_name)
        data = Dataset(events, entities, outcomes)
        with executor(cluster) as runner:
            calibration, candidate, current = lake_calibrate(
                profile, data, runner, horizon_days=horizon_days, l2=l2, k=k
            )
    except PrioscoreError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    weights = {s.name: s.weight for s in calibration.candidate.signals}
    if out is not None:
        out.write_text(profile_to_toml(calibration.candidate))
    click.echo(
        dumps(
            {
                "profile": profile.name,
                "weights": weights,
                "score_slope": calibration.score_slope,
                "score_intercept": calibration.score_intercept,
                "candidate": report_json(candidate),
                "current": report_json(current),
            }
        )
    )
