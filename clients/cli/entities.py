"""`prioscore entities show ID` and `prioscore erase ID`: read or remove one entity."""

from __future__ import annotations

from typing import Any

import click

from prioscore.clients.cli.common import client, score_record
from prioscore.clients.cli.output import emit, output_options
from prioscore.clients.cli.scores import iso


@click.group()
def entities() -> None:
    """Read stored entities: their attributes and current scores."""


@entities.command("show")
@click.argument("entity_id")
@click.option("--reasons", default=3, show_default=True, help="Top reasons per score.")
@output_options
def show(entity_id: str, reasons: int, fmt: str) -> None:
    """ENTITY_ID as stored: kind, account, attributes, and its score under each profile.

    Attributes are what identify and group traits and upserts stored (name, e-mail,
    plan, ...); the fit rules of a profile read them. Scores are the current stored
    ones, one per profile that has scored the entity.
    """
    found = client().get_entity(entity_id, include_scores=True, top_reasons=reasons)
    entity = found.entity
    attributes: dict[str, Any] = {**entity.attributes, **entity.numeric_attributes}
    structured = fmt == "json"
    scores = [
        {"profile": s.profile, **score_record(s, reasons, structured=structured)}
        for s in found.scores
    ]
    if fmt == "json":
        record = {
            "id": entity.id,
            "kind": entity.kind,
            "account_id": entity.account_id,
            "attributes": dict(entity.attributes),
            "numeric_attributes": dict(entity.numeric_attributes),
            "create_time": iso(entity.create_time),
            "update_time": iso(entity.update_time),
            "scores": scores,
        }
        emit([record], [], fmt)
        return
    rows = [{"attribute": key, "value": attributes[key]} for key in sorted(attributes)]
    if fmt == "csv":
        emit(rows, ["attribute", "value"], fmt)
        return
    account = f", account {entity.account_id}" if entity.account_id else ""
    click.echo(
        f"{entity.id} ({entity.kind or 'kind unknown'}{account}); first stored"
        f" {iso(entity.create_time)}, last changed {iso(entity.update_time)}"
    )
    emit(rows, ["attribute", "value"], fmt, empty="(no attributes)", digits=2)
    columns = ["profile", "score", "tier", "engagement", "fit", "reasons"]
    emit(scores, columns, fmt, empty="(not scored under any profile)")


@click.command()
@click.argument("entity_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@output_options
def erase(entity_id: str, yes: bool, fmt: str) -> None:
    """Erase ENTITY_ID: its events, attributes, scores, history and tier changes.

    For data-subject deletion requests. Idempotent: erasing an unknown or already erased
    entity succeeds with zero counts. The server logs an audit line naming the caller.
    Asks for confirmation unless --yes is given.
    """
    if not yes:
        click.confirm(f"erase {entity_id} and everything stored about it?", abort=True, err=True)
    result = client().erase_entity(entity_id)
    record = {
        "entity_id": entity_id,
        "events_removed": result.events_removed,
        "scores_removed": result.scores_removed,
        "history_removed": result.history_removed,
    }
    emit([record], list(record), fmt)
