"""`prioscore ingest` (events from a file) and `prioscore demo` (synthetic events).

ingest validates the whole file first and sends nothing when any row is bad, then
streams it in batches (a second, streaming read: memory stays flat for big files).
"""

from __future__ import annotations

import atexit
import json
import sys
import tempfile
import time
from pathlib import Path

import click
from google.protobuf.json_format import MessageToDict

from prioscore.clients.cli.common import client, progress_line
from prioscore.clients.cli.eventfile import check_events, detect_format, read_events
from prioscore.clients.cli.output import emit, output_options
from prioscore.clients.cli.synthetic import DEFAULT_COUNTS, generate
from prioscore.clients.models import IngestSummary
from prioscore.v1 import types_pb2

_SUMMARY = ["accepted", "duplicates", "entities_rescored", "tier_changes", "events_sent"]


def _report(summary: IngestSummary, fmt: str) -> None:
    record = {k: getattr(summary, k) for k in _SUMMARY}
    if fmt == "table":
        emit([{"field": k, "value": v} for k, v in record.items()], ["field", "value"], fmt)
    else:
        emit([record], _SUMMARY, fmt)


def _progress(summary: IngestSummary) -> None:
    progress_line(f"{summary.events_sent:,} events sent, {summary.accepted:,} stored")


class _FileProgress:
    """Progress of a checked file: share sent, rate and time left (the check counted it)."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.started = time.monotonic()

    def __call__(self, summary: IngestSummary) -> None:
        sent = summary.events_sent
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = sent / elapsed
        left = (self.total - sent) / rate if rate > 0 else 0.0
        progress_line(
            f"{sent:,} / {self.total:,} events ({100 * sent / self.total:.0f}%),"
            f" {rate:,.0f} ev/s, ETA {left:.0f}s, {summary.accepted:,} stored"
        )


def _spooled_stdin(fmt_in: str | None) -> Path:
    """stdin copied to a temporary file, so the whole input is checked before anything
    is sent, as for a file (removed when the process exits)."""
    suffix = {"csv": ".csv", "parquet": ".parquet"}.get(fmt_in or "jsonl", ".jsonl")
    with tempfile.NamedTemporaryFile(
        prefix="prioscore-stdin-", suffix=suffix, delete=False
    ) as spool:
        stdin = sys.stdin.buffer
        while chunk := stdin.read(1 << 20):
            spool.write(chunk)
    path = Path(spool.name)
    atexit.register(path.unlink, missing_ok=True)
    return path


@click.command()
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
@click.option(
    "--format",
    "fmt_in",
    type=click.Choice(["csv", "jsonl", "parquet"]),
    help="Input format; default from the extension (.csv, .jsonl/.ndjson/.json, either"
    " optionally .gz, .parquet); for - (stdin) default jsonl.",
)
@click.option("--batch-size", default=2000, show_default=True, help="Events per message.")
@click.option("--dry-run", is_flag=True, help="Only validate the file; send nothing.")
@click.option(
    "--backfill",
    is_flag=True,
    help="Historical import: rescore each entity once at the end (one history point, "
    "no storm of tier changes; cause BACKFILL).",
)
@output_options
def ingest(
    file: Path, fmt_in: str | None, batch_size: int, dry_run: bool, backfill: bool, fmt: str
) -> None:
    """Send Segment-style events from a CSV or JSONL FILE (one event per row / line).

    \b
    Fields (CSV columns or JSON keys; Segment names in brackets also work):
      message_id [messageId]  dedupe key; absent: derived from the row's content
                              (and line, without a time), so importing a file
                              twice stores it once
      kind [type]             track | identify | group (default track)
      entity_id [userId]      required
      entity_kind             contact | account | subscription | ticket | ...
      event                   event name, required for track (page_view, login, ...)
      time [timestamp]        ISO-8601 (no offset = UTC) or epoch seconds (ms above 1e11)
      value                   number, e.g. seconds on page (default 1)
      account_id [groupId]    the account a group event joins (required for group)
      properties, traits      JSON objects; text values stay text, numbers become
                              metrics / numeric traits
      metrics, numeric_traits JSON objects of numbers
      prop.NAME metric.NAME trait.NAME
                              one column per key (CSV-friendly); in CSV a prop./trait.
                              cell holding a plain number is sent as a number

    \b
    Example CSV:
      message_id,kind,entity_id,entity_kind,event,time,prop.url,metric.clicks,trait.seniority
      m1,identify,c-1,contact,,,,,vp
      m2,track,c-1,contact,page_view,2026-05-01T10:00:00Z,/pricing,3,

    FILE may be CSV, JSON Lines (.jsonl/.ndjson, either optionally gzip-compressed as
    .gz) or Parquet (columns as in CSV, typed), or - to read stdin (--format, default
    jsonl). The whole input is checked first: any bad row is reported with file, line
    and field, and nothing is sent. Progress shows the share sent, the rate and the ETA.
    """
    source = "stdin" if str(file) == "-" else str(file)
    if str(file) == "-":
        file = _spooled_stdin(fmt_in)
        fmt_in = fmt_in or "jsonl"
    fmt_in = detect_format(file, fmt_in)
    count, ignored = check_events(file, fmt_in)
    if ignored:
        click.echo(f"note: ignoring columns {', '.join(sorted(ignored))}", err=True)
    if dry_run:
        click.echo(f"{file}: {count} valid events (dry run, nothing sent)", err=True)
        return
    summary = client().ingest(
        read_events(file, fmt_in),
        batch_size=batch_size,
        progress=_FileProgress(count),
        backfill=backfill,
    )
    progress_line(f"{summary.events_sent:,} events sent from {source}", final=True)
    _report(summary, fmt)


def _counts(contacts: int, accounts: int, subscriptions: int, tickets: int) -> dict[str, int]:
    return {
        "contact": contacts,
        "account": accounts,
        "subscription": subscriptions,
        "ticket": tickets,
    }


def _write_jsonl(path: Path, events: list[types_pb2.Event]) -> None:
    kinds = {1: "track", 2: "identify", 3: "group"}
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            row = MessageToDict(event, preserving_proto_field_name=True)
            row["kind"] = kinds[event.kind]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


@click.command()
@click.option("--contacts", default=DEFAULT_COUNTS["contact"], show_default=True)
@click.option("--accounts", default=DEFAULT_COUNTS["account"], show_default=True)
@click.option("--subscriptions", default=DEFAULT_COUNTS["subscription"], show_default=True)
@click.option("--tickets", default=DEFAULT_COUNTS["ticket"], show_default=True)
@click.option(
    "--entities", default=50, show_default=True, help="Entities of any other profile's kind."
)
@click.option("--days", default=120.0, show_default=True, help="History length in days.")
@click.option("--seed", default=7, show_default=True, help="Random seed (same seed, same data).")
@click.option(
    "--profile",
    "only",
    multiple=True,
    help="Only these profiles (repeatable); default: every loaded profile.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the events to this JSONL file instead of sending them.",
)
@output_options
def demo(
    contacts: int,
    accounts: int,
    subscriptions: int,
    tickets: int,
    entities: int,
    days: float,
    seed: int,
    only: tuple[str, ...],
    out: Path | None,
    fmt: str,
) -> None:
    """Generate and ingest realistic synthetic events for every loaded profile.

    Event names, properties, entity kinds, attributes and disqualifiers come from the
    profiles the server serves (GetProfile and their TOML), so the data fits whatever
    profiles are loaded: lead_qualification contacts browsing pricing pages,
    churn_risk accounts going quiet, saas_renewal subscriptions adopting features,
    ticket_triage tickets ageing. Identify events carry attributes and entity_kind;
    contacts, subscriptions and tickets join accounts with group events. Afterwards
    `prioscore rank PROFILE` shows a ranked list for each. Use a fresh database: a
    second run adds a second history.
    """
    api = client()
    names = list(only) or [p.name for p in api.list_profiles()]
    loaded = [api.get_profile(name) for name in names]
    counts = {p.profile.entity: entities for p in loaded}
    counts.update(_counts(contacts, accounts, subscriptions, tickets))
    events = list(generate(loaded, counts, seed=seed, days=days))
    if out is not None:
        _write_jsonl(out, events)
        click.echo(f"wrote {len(events)} events to {out}", err=True)
        return
    summary = api.ingest(events, progress=_progress)
    progress_line(f"{summary.events_sent:,} demo events sent", final=True)
    rows = []
    for p in loaded:
        name = p.profile.name
        record: dict[str, object] = {"profile": name, "entity": p.profile.entity}
        for tier in p.profile.tier_names:
            record[tier] = api.rank_page(name, tiers=[tier], page_size=1).total_size
        rows.append(
            {
                "profile": name,
                "entity": p.profile.entity,
                "scored": api.rank_page(name, page_size=1, include_disqualified=True).total_size,
                "tiers": [f"{t}={record[t]}" for t in p.profile.tier_names],
            }
        )
    emit(rows, ["profile", "entity", "scored", "tiers"], fmt)
    if fmt == "table":
        click.echo(f"\nnext: prioscore rank {names[0]}   |   prioscore at-risk", err=True)
