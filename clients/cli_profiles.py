"""`prioscore profiles list|show|validate|reload` (a group: backtest/calibrate can join)."""

from __future__ import annotations

from pathlib import Path

import click

from prioscore.clients.cli_common import client, fail
from prioscore.clients.output import emit, output_options
from prioscore.v1 import types_pb2


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
            "description": p.description,
        }
        for p in client().list_profiles()
    ]
    emit(rows, ["name", "version", "entity", "signals", "tiers", "description"], fmt)


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
            "event": s.event,
            "match": [f"{m.key}={'|'.join(m.values)}" for m in s.match],
            "aggregate": s.aggregate,
            "weight": s.weight,
            "cap": s.cap if s.HasField("cap") else None,
            "missing": s.missing,
        }
        for s in profile.signals
    ]
    columns = ["signal", "event", "match", "aggregate", "weight", "cap", "missing"]
    if fmt != "table":
        emit(signals, columns, fmt, digits=3)
        return
    summary = profile.profile
    click.echo(f"{summary.name} v{summary.version} — scores {summary.entity}")
    if summary.description:
        click.echo(summary.description)
    tiers = ", ".join(f"{t.name} >= {t.threshold:g}" for t in profile.tiers)
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
