"""`prioscore profiles list|show|validate|reload|stage|promote|discard` (a group).

stage / promote / discard manage a shadow: a candidate version scored beside the active
one on every ingest (ranked as "<name>@shadow", compared with `prioscore compare
--shadow`), then made active atomically or thrown away.
"""

from __future__ import annotations

from pathlib import Path

import click

from prioscore.clients.cli.common import client, fail
from prioscore.clients.cli.output import emit, output_options
from prioscore.clients.errors import InvalidArgumentError
from prioscore.v1 import types_pb2

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _issue_line(issue: types_pb2.ProfileIssue) -> str:
    where = f"{issue.file}:{issue.line}" if issue.line else issue.file
    return f"{where}: {issue.key}: {issue.reason}" if issue.key else f"{where}: {issue.reason}"


@click.group()
def profiles() -> None:
    """Inspect, validate and reload the server's scoring profiles."""


@profiles.command("list")
@output_options
def list_profiles(fmt: str) -> None:
    """The loaded profiles: entity kind, signals, tiers."""
    rows = [
        {
            "name": p.name,
            "version": p.version,
            "entity": p.entity,
            "signals": len(p.signal_names),
            "tiers": list(p.tier_names),
            "shadow": p.shadow_version or None,
            "description": p.description,
        }
        for p in client().list_profiles()
    ]
    emit(rows, ["name", "version", "entity", "signals", "tiers", "shadow", "description"], fmt)


@profiles.command("show")
@click.argument("name")
@click.option("--toml", "as_toml", is_flag=True, help="Print the TOML source only.")
@output_options
def show(name: str, as_toml: bool, fmt: str) -> None:
    """One profile: its signals (the feature columns of `batch`, in order) and tiers."""
    profile = client().get_profile(name)
    if as_toml:
        click.echo(profile.toml, nl=not profile.toml.endswith("\n"))
        return
    signals = [
        {
            "signal": s.name,
            # A score signal reads another profile's scores of related entities.
            "event": s.event or f"{s.scores} scores of {s.relation}",
            "match": [f"{m.key}={'|'.join(m.values)}" for m in s.match]
            + ([f"score>={s.min_score:g}"] if s.min_score else [])
            + ([f"by={s.by}"] if s.by else []),
            "aggregate": s.aggregate,
            "half_life": s.half_life_days if s.HasField("half_life_days") else None,
            "window": s.window_days if s.HasField("window_days") else None,
            "weight": s.weight,
            "cap": s.cap if s.HasField("cap") else None,
            "missing": s.missing,
        }
        for s in profile.signals
    ]
    # half_life / window in days: how fast a behaviour fades, or how far back it counts.
    columns = [
        "signal",
        "event",
        "match",
        "aggregate",
        "half_life",
        "window",
        "weight",
        "cap",
        "missing",
    ]
    if fmt != "table":
        emit(signals, columns, fmt, digits=3)
        return
    summary = profile.profile
    click.echo(f"{summary.name} v{summary.version} — scores {summary.entity}")
    if profile.members:
        click.echo(f"rolls up the events of its {profile.members} members")
    if summary.description:
        click.echo(summary.description)
    tiers = ", ".join(f"{t.name} >= {t.threshold:g}" for t in profile.tiers)
    if profile.tier_mode == "grid":  # cells grade + level: show the two axes
        grades = ", ".join(f"{t.name} >= {t.threshold:g}" for t in profile.grid.fit_grades)
        levels = ", ".join(f"{t.name} >= {t.threshold:g}" for t in profile.grid.engagement_levels)
        tiers = f"fit grades {grades} x engagement levels {levels}"
    click.echo(f"tiers ({profile.tier_mode}): {tiers}; fit weight {profile.fit_weight:g}\n")
    emit(signals, columns, fmt, digits=3)


@profiles.command("validate")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@output_options
def validate(files: tuple[Path, ...], fmt: str) -> None:
    """Check profile TOML FILES on the server without loading them (exit 1 if any fail)."""
    api = client()
    rows = []
    problems: list[str] = []
    for path in files:
        result = api.validate_profile(path.read_text(encoding="utf-8"), filename=str(path))
        rows.append(
            {
                "file": str(path),
                "valid": result.valid,
                "profile": result.profile.name if result.valid else "",
                "issues": len(result.issues),
            }
        )
        problems.extend(_issue_line(i) for i in result.issues)
    emit(rows, ["file", "valid", "profile", "issues"], fmt)
    if problems:
        fail(problems)


@profiles.command("reload")
@output_options
def reload(fmt: str) -> None:
    """Re-read the server's profile directory, all or nothing (needs the admin scope)."""
    result = client().reload_profiles()
    emit([{"applied": result.applied, "loaded": list(result.loaded)}], ["applied", "loaded"], fmt)
    if not result.applied:
        fail(
            ["error: reload not applied; the previous profiles keep serving"]
            + [_issue_line(i) for i in result.issues]
        )


@profiles.command("stage")
@click.argument("file", type=_FILE)
@output_options
def stage(file: Path, fmt: str) -> None:
    """Stage FILE, a new version of a loaded profile, as its shadow (admin scope).

    The server checks it like a reload (nothing is staged if it has an issue), scores
    every stored entity with it and from then on scores it beside the active version on
    every ingest: `rank NAME@shadow`, `compare NAME --shadow`, then `profiles promote`.
    """
    try:
        result = client().stage_profile(file.read_text(encoding="utf-8"), filename=str(file))
    except InvalidArgumentError as error:
        # One violation per profile issue, described "file:line: key: reason".
        lines = [v.description if v.field in v.description else str(v) for v in error.violations]
        fail(["error: candidate not staged", *(f"  {line}" for line in lines)])
    shadow = result.shadow
    record = {
        "name": shadow.name,
        "shadow": f"{shadow.name}@shadow",
        "version": shadow.version,
        "entities_scored": result.entities_scored,
    }
    if fmt != "table":
        emit([record], list(record), fmt)
        return
    click.echo(
        f"staged {shadow.name} v{shadow.version} as {record['shadow']}:"
        f" {result.entities_scored} stored entities scored"
    )


@profiles.command("promote")
@click.argument("name")
@click.option(
    "--version",
    "shadow_version",
    type=click.IntRange(min=1),
    help="The shadow version you reviewed; refused if another version is staged.",
)
@output_options
def promote(name: str, shadow_version: int | None, fmt: str) -> None:
    """Make NAME's staged shadow the active version, atomically (admin scope).

    The candidate's TOML replaces the profile's file on the server, its scores become
    NAME's scores (tier changes are recorded and reach watchers) and the shadow is gone.
    """
    result = client().promote_profile(name, shadow_version or 0)
    record = {
        "name": result.profile.name,
        "version": result.profile.version,
        "previous_version": result.previous_version,
        "entities_scored": result.entities_scored,
        "tier_changes": result.tier_changes,
        "source": result.profile.source,
    }
    if fmt != "table":
        emit([record], list(record), fmt)
        return
    click.echo(
        f"promoted {name} v{result.previous_version} -> v{result.profile.version}"
        f" ({result.profile.source}): {result.entities_scored} entities,"
        f" {result.tier_changes} tier changes"
    )


@profiles.command("discard")
@click.argument("name")
@output_options
def discard(name: str, fmt: str) -> None:
    """Discard NAME's staged shadow and its scores (idempotent; admin scope)."""
    result = client().delete_shadow_profile(name)
    record = {"name": name, "deleted": result.deleted, "shadow_version": result.shadow_version}
    if fmt != "table":
        emit([record], list(record), fmt)
        return
    if result.deleted:
        click.echo(f"discarded {name}@shadow (v{result.shadow_version})")
    else:
        click.echo(f"{name} has no staged shadow; nothing to discard")
