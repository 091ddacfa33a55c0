"""`prioscore watch`: print tier changes as they happen."""

from __future__ import annotations

import click

from prioscore.clients.cli.common import client
from prioscore.clients.cli.output import emit_line, output_options
from prioscore.clients.cli.scores import iso, split_list
from prioscore.clients.errors import DeadlineExceededError
from prioscore.v1 import profile_service_pb2 as profiles_pb

COLUMNS = ["change_id", "time", "profile", "entity_id", "previous_tier", "tier", "score", "cause"]


@click.command()
@click.option("--profile", default="", help="Only changes under this profile.")
@click.option("--tier", "tiers", multiple=True, help="Only changes INTO these tiers.")
@click.option("--account", default="", help="Only entities of this account.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N changes.")
@click.option(
    "--timeout",
    "duration",
    type=click.FloatRange(min=0.001),
    help="Stop after S seconds (exit 0 even with no change).",
)
@click.option(
    "--after",
    "after_change_id",
    type=click.IntRange(min=0),
    help="First replay the stored changes after this change_id (resume a watch).",
)
@output_options
def watch(
    profile: str,
    tiers: tuple[str, ...],
    account: str,
    count: int | None,
    duration: float | None,
    after_change_id: int | None,
    fmt: str,
) -> None:
    """Print tier changes as they happen (entities moving tier after ingest or reload).

    Runs until Ctrl-C, or until --count changes / --timeout seconds for scripts and
    tests. --after N replays the stored changes after change N first (each change
    prints its change_id). --json prints one JSON object per line. Without --timeout
    the watch re-subscribes after the last change seen when its stream deadline
    passes, and a dropped connection resumes the same way: nothing is missed.
    """
    api = client()
    wanted = split_list(tiers)
    _check_filters(api.list_profiles(), profile, wanted)
    scope = f"profile {profile}" if profile else "every profile"
    into = f", into {', '.join(wanted)}" if wanted else ""
    click.echo(f"watching tier changes of {scope}{into} (Ctrl-C to stop)", err=True)
    if fmt == "table":
        emit_line({c: c.upper() for c in COLUMNS}, COLUMNS, fmt, header=True)
    seen = 0
    cursor = after_change_id
    while True:
        try:
            for change in api.watch(
                profile=profile,
                tiers=wanted,
                account_id=account,
                duration=duration,
                after_change_id=cursor,
            ):
                seen += 1
                cursor = change.change_id
                record = {
                    "change_id": change.change_id,
                    "time": iso(change.time),
                    "profile": change.profile,
                    "entity_id": change.entity_id,
                    "previous_tier": change.previous_tier or "-",
                    "tier": change.tier or "disqualified",
                    "score": change.score,
                    "previous_score": change.previous_score,
                    "account_id": change.account_id,
                    "cause": change.cause_message_id,
                }
                emit_line(record, COLUMNS, fmt, header=seen == 1 and fmt != "table")
                if count is not None and seen >= count:
                    break
            break
        except DeadlineExceededError:
            click.echo("note: watch stream deadline reached; re-subscribing", err=True)
    click.echo(f"{seen} tier change{'s' if seen != 1 else ''}", err=True)


def _check_filters(
    profiles: list[profiles_pb.ProfileSummary], profile: str, tiers: list[str]
) -> None:
    """A typo in --profile or --tier would watch nothing forever: refuse it up front."""
    names = sorted(p.name for p in profiles)
    if profile and profile not in names:
        raise click.BadParameter(
            f"unknown profile {profile!r}; loaded: {', '.join(names)}", param_hint="--profile"
        )
    chosen = [p for p in profiles if not profile or p.name == profile]
    known = sorted({t for p in chosen for t in p.tier_names} | {"disqualified"})
    unknown = [t for t in tiers if t not in known]
    if unknown:
        raise click.BadParameter(
            f"unknown tier {unknown[0]!r}; tiers: {', '.join(known)}", param_hint="--tier"
        )
